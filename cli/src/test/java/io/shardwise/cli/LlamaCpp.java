package io.shardwise.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * llama.cpp as a test oracle: {@code interop/llama-cpp/perplexity.mjs} on node-llama-cpp's prebuilt linux-x64 CPU binary,
 * installed from the committed lock file into the git-ignored {@code interop/llama-cpp/node_modules} on first use
 * ({@code npm install --omit=optional --no-save} with NODE_LLAMA_CPP_SKIP_DOWNLOAD, so nothing but the npm registry is reached). Without node 20+, npm or the registry, or on
 * another platform, the calling test is skipped with the reason printed. System properties {@code shardwise.node} and
 * {@code shardwise.npm} name other binaries than the PATH's node and npm.
 */
final class LlamaCpp {
    static final String VERSION = "3.22.1";
    private static final long INSTALL_TIMEOUT_S = 180, RUN_TIMEOUT_S = 300;
    private static final String NODE = System.getProperty("shardwise.node", "node"), NPM = System.getProperty("shardwise.npm", "npm");

    /** One model's result: tokens scored, mean NLL (nats/token), ppl, top-1 accuracy and each token's NLL. */
    record Score(String model, long tokens, double nll, double ppl, double top1, double[] perToken) {
    }

    private final Path dir;

    private LlamaCpp(Path dir) {
        this.dir = dir;
    }

    /** The installed oracle, installing it when missing; skips the test, saying why, when it cannot run here. */
    static LlamaCpp installedOrSkip() {
        Path dir = RepoLayout.find().root().resolve("interop/llama-cpp");
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT), arch = System.getProperty("os.arch");
        if (!os.startsWith("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            skip("the pinned llama.cpp binary (@node-llama-cpp/linux-x64 " + VERSION + ") runs on linux x64, this is " + os + "/" + arch);
        }
        if (!Files.isRegularFile(dir.resolve("perplexity.mjs"))) skip(dir + "/perplexity.mjs is absent");
        Run node = run(dir, 30, NODE, "--version");
        if (node.exit() != 0) skip("no node to run (" + node.output().strip() + ")");
        String version = node.output().strip();
        if (!version.matches("v\\d+\\..*")) skip(NODE + " --version printed '" + version + "', not a node version");
        int major = Integer.parseInt(version.replaceAll("^v(\\d+)\\..*", "$1"));
        if (major < 20) skip("node-llama-cpp " + VERSION + " needs node 20 or newer, found " + node.output().strip());
        if (!installed(dir)) install(dir);
        return new LlamaCpp(dir);
    }

    /** Scores each model on the token ids in {@code tokens} (whitespace-separated) with the pinned protocol's chunks of ctx - 1. */
    List<Score> score(Path tokens, int ctx, int bos, List<Path> models) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(NODE, "perplexity.mjs", "--tokens", tokens.toAbsolutePath().toString(),
                "--ctx", Integer.toString(ctx), "--bos", Integer.toString(bos), "--per-token"));
        models.forEach(m -> cmd.add(m.toAbsolutePath().toString()));
        Run r = run(dir, RUN_TIMEOUT_S, cmd.toArray(String[]::new));
        List<Score> out = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : r.stdout().split("\n")) {
            if (!line.startsWith("{")) continue;
            JsonNode n = json.readTree(line);
            if (n.has("error")) throw new AssertionError("llama.cpp refused " + n.get("model").asText() + ": " + n.get("error").asText() + "\nllama.cpp log:\n" + r.output());
            double[] per = new double[n.get("nll_per_token").size()];
            for (int i = 0; i < per.length; i++) per[i] = n.get("nll_per_token").get(i).asDouble();
            out.add(new Score(n.get("model").asText(), n.get("tokens").asLong(), n.get("nll").asDouble(), n.get("ppl").asDouble(),
                    n.get("top1").asDouble(), per));
        }
        if (out.size() != models.size()) throw new AssertionError("perplexity.mjs exited " + r.exit() + " with " + out.size() + " of "
                + models.size() + " results:\n" + r.output());
        return out;
    }

    private static boolean installed(Path dir) {
        Path pkg = dir.resolve("node_modules/node-llama-cpp/package.json");
        try {
            return Files.isDirectory(dir.resolve("node_modules/@node-llama-cpp/linux-x64/bins")) && Files.isRegularFile(pkg)
                    && Files.readString(pkg).contains("\"version\": \"" + VERSION + "\"");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The lock file's packages without the optional (other platforms', GPU) binaries, no install scripts, the lock left as
     * it is. Not {@code npm ci}: it refuses a lock that lacks those optional packages, and the lock has to, where the
     * registry mirror does not serve them (mac, windows, riscv64).
     */
    private static void install(Path dir) {
        long t0 = System.nanoTime();
        Run npm = run(dir, INSTALL_TIMEOUT_S, NPM, "install", "--omit=optional", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund",
                "--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=4000"); // no registry: skipped in ~10 s, not 90+
        if (npm.exit() != 0 || !installed(dir)) {
            List<String> errors = npm.output().lines().filter(l -> l.startsWith("npm error") && l.length() > 10).limit(3).toList();
            String out = npm.output().strip();
            skip("npm install of node-llama-cpp " + VERSION + " in " + dir + " failed (exit " + npm.exit() + "): "
                    + (errors.isEmpty() ? out.substring(Math.max(0, out.length() - 600)) : String.join(" / ", errors)));
        }
        System.out.printf(Locale.ROOT, "llama.cpp interop: npm install of node-llama-cpp %s took %.1f s, node_modules %.1f MB%n",
                VERSION, (System.nanoTime() - t0) / 1e9, size(dir.resolve("node_modules")) / 1e6);
    }

    private static long size(Path root) {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        } catch (IOException e) {
            return -1;
        }
    }

    private static void skip(String why) {
        String reason = "skipped: llama.cpp interop: " + why;
        System.out.println(reason);
        Assumptions.abort(reason);
    }

    /** A finished process: exit code (-1: could not start or timed out), stdout, and stdout + stderr for messages. */
    private record Run(int exit, String stdout, String output) {
    }

    private static Run run(Path dir, long timeoutS, String... cmd) {
        Path out = null, err = null;
        try {
            out = Files.createTempFile("llama-cpp", ".out");
            err = Files.createTempFile("llama-cpp", ".err");
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
            pb.environment().put("NODE_LLAMA_CPP_SKIP_DOWNLOAD", "true");
            Process p = pb.start();
            p.getOutputStream().close();
            boolean done = p.waitFor(timeoutS, TimeUnit.SECONDS);
            if (!done) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            String stdout = Files.readString(out), stderr = Files.readString(err);
            return new Run(done ? p.exitValue() : -1, stdout, stdout + stderr + (done ? "" : "\n(timed out after " + timeoutS + " s)"));
        } catch (IOException e) {
            return new Run(-1, "", cmd[0] + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Run(-1, "", cmd[0] + ": interrupted");
        } finally {
            for (Path f : new Path[]{out, err}) {
                try {
                    if (f != null) Files.deleteIfExists(f);
                } catch (IOException ignored) {
                    // a temp file left behind is harmless
                }
            }
        }
    }
}
