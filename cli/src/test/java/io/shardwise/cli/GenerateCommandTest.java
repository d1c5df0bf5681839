package io.shardwise.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code shardwise generate} on stories260K: prompt, sampling options, threads and the speed line. */
class GenerateCommandTest {

    private record Run(int exit, String out, String err) {
        String text() {
            List<String> lines = out.lines().toList();
            return String.join("\n", lines.subList(0, lines.size() - 1));
        }

        String speed() {
            List<String> lines = out.lines().toList();
            return lines.getLast();
        }
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = ShardwiseCli.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void promptIsContinuedAndTheSpeedLineFollows() {
        Path model = SharedData.stories260K();
        Run r = run("generate", "--model", model.toString(), "--prompt", "Once upon a time, there was a little girl", "--steps", "40", "--threads", "2");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.text().startsWith("Once upon a time, there was a little girl named Lily."), r.out());
        assertTrue(r.speed().matches("prompt: \\d+ tokens, [0-9.]+ tokens/s; generated: \\d+ tokens, [0-9.]+ tokens/s \\(2 threads\\)"), r.speed());
    }

    @Test
    void samplingIsSeededAndThreadsDoNotChangeIt() {
        Path model = SharedData.stories260K().toAbsolutePath();
        String[] base = {"generate", "--model", model.toString(), "--steps", "60", "--temperature", "1", "--top-p", "0.9"};
        Run a = run(concat(base, "--seed", "7", "--threads", "1"));
        Run b = run(concat(base, "--seed", "7", "--threads", "2"));
        Run c = run(concat(base, "--seed", "8", "--threads", "1"));
        assertEquals(0, a.exit(), a.err());
        assertEquals(a.text(), b.text());
        assertNotEquals(a.text(), c.text());
    }

    @Test
    void badOptionsAreRefusedNamingThem() {
        Path model = SharedData.stories260K();
        Run t = run("generate", "--model", model.toString(), "--temperature", "-1");
        assertNotEquals(0, t.exit());
        assertTrue(t.err().contains("--temperature"), t.err());
        Run p = run("generate", "--model", model.toString(), "--top-p", "2");
        assertNotEquals(0, p.exit());
        assertTrue(p.err().contains("--top-p"), p.err());
        Run th = run("generate", "--model", model.toString(), "--threads", "0");
        assertNotEquals(0, th.exit());
        assertTrue(th.err().contains("--threads"), th.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
