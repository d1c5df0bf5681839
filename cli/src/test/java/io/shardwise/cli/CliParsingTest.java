package io.shardwise.cli;

import io.shardwise.cli.RepoLayout.Service;
import io.shardwise.proto.v1.JobState;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CliParsingTest {

    private static CommandLine.ParseResult parse(String... args) {
        return ShardwiseCli.commandLine().parseArgs(args);
    }

    private static <T> T command(CommandLine.ParseResult r, Class<T> type) {
        return type.cast(r.subcommand().commandSpec().userObject());
    }

    @Test
    void submitTakesRecipeModelAndWatch() {
        SubmitCommand c = command(parse("submit", "r.yaml", "--model", "m.bin", "--watch", "--server", "h:1234"), SubmitCommand.class);
        assertEquals(Path.of("r.yaml"), c.recipe);
        assertEquals("m.bin", c.model);
        assertTrue(c.watch);
        assertEquals("h:1234", c.server.address());
    }

    @Test
    void serverDefaultsToLocalhost9000WithoutEnv() {
        GetCommand c = command(parse("get", "job-1"), GetCommand.class);
        String env = System.getenv("SHARDWISE_SERVER");
        assertEquals(env == null || env.isBlank() ? "localhost:9000" : env, c.server.address());
    }

    @Test
    void watchResumesFromSequence() {
        WatchCommand c = command(parse("watch", "j", "--from-seq", "17"), WatchCommand.class);
        assertEquals("j", c.job);
        assertEquals(17, c.fromSeq);
    }

    @Test
    void listStateIsCaseInsensitive() {
        ListCommand c = command(parse("list", "--state", "failed", "--page-size", "5"), ListCommand.class);
        assertEquals(JobState.FAILED, c.state);
        assertEquals(5, c.pageSize);
    }

    @Test
    void evalNeedsModelAndText() {
        assertThrows(CommandLine.MissingParameterException.class, () -> parse("eval", "--text", "t.txt"));
        EvalCommand c = command(parse("eval", "--model", "m.bin", "--text", "t.txt", "--max-tokens", "100", "--json"), EvalCommand.class);
        assertEquals(Path.of("m.bin"), c.model);
        assertEquals(100, c.maxTokens);
        assertTrue(c.json);
    }

    @Test
    void demoOptions() {
        DemoCommand c = command(parse("demo", "--model", "x.gguf", "--recipe", "r.yaml", "--json", "--keep-logs", "--in-process"), DemoCommand.class);
        assertEquals(Path.of("x.gguf"), c.model);
        assertEquals(Path.of("r.yaml"), c.recipe);
        assertTrue(c.json && c.keepData && c.inProcess);
        DemoCommand d = command(parse("demo"), DemoCommand.class);
        assertNull(d.model);
        assertFalse(d.json);
    }

    @Test
    void stackInstancesPerService() {
        StackCommand c = command(parse("stack", "--instances", "quantizer=2", "--port", "0"), StackCommand.class);
        assertEquals(2, c.instances.get(Service.QUANTIZER));
        assertEquals(0, c.port);
    }

    @Test
    void unknownCommandFailsWithUsageAndExitCode2() {
        StringWriter err = new StringWriter();
        CommandLine cl = ShardwiseCli.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(2, cl.execute("frobnicate"));
        assertTrue(err.toString().contains("frobnicate"), err.toString());
    }

    @Test
    void badServerAddressNamesTheOption() {
        StringWriter err = new StringWriter();
        CommandLine cl = ShardwiseCli.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(1, cl.execute("get", "j", "--server", "nocolon"));
        assertTrue(err.toString().contains("--server: expected HOST:PORT, got 'nocolon'"), err.toString());
    }

    @Test
    void missingRecipeFileNamesTheFile() {
        StringWriter err = new StringWriter();
        CommandLine cl = ShardwiseCli.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(1, cl.execute("submit", "/nonexistent/recipe.yaml"));
        assertTrue(err.toString().contains("/nonexistent/recipe.yaml: recipe file not found"), err.toString());
    }

    @Test
    void unreachableGatewayIsReportedAsUnavailable() throws Exception {
        int port = LocalStack.freePort();
        StringWriter err = new StringWriter();
        CommandLine cl = ShardwiseCli.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(1, cl.execute("techniques", "--server", "localhost:" + port));
        assertTrue(err.toString().contains("UNAVAILABLE"), err.toString());
    }

    @Test
    void modelPathsBecomeAbsoluteFileUris() {
        assertEquals("file:" + Path.of("m.bin").toAbsolutePath(), SubmitCommand.modelUri("m.bin"));
        assertEquals("file:/abs/m.gguf", SubmitCommand.modelUri("file:/abs/m.gguf"));
        assertEquals("", SubmitCommand.modelUri(null));
    }
}
