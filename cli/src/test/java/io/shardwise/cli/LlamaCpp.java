package io.shardwise.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * llama.cpp as a test oracle: {@code interop/llama-cpp/perplexity.mjs} on node-llama-cpp's prebuilt linux-x64 CPU binary,
 * installed from the committed lock file into the git-ignored {@code interop/llama-cpp/node_modules} on first use
 * ({@code npm install --omit=optional --no-save} with NODE_LLAMA_CPP_SKIP_DOWNLOAD, so nothing but the npm registry is reached). Without node 20+, npm or the registry, or on
 * another platform, the calling test is skipped with the reason printed. System properties {@code shardwise.node} and
 * {@code shardwise.npm} name other binaries than the PATH's node and npm.
 */
final class LlamaCpp implements AutoCloseable {
    static final String VERSION = "3.22.1";
    private static final long INSTALL_TIMEOUT_S = 180, RUN_TIMEOUT_S = 300;
    private static final String NODE = System.getProperty("shardwise.node", "node"), NPM = System.getProperty("shardwise.npm", "npm");

    /** One model's result: tokens scored, mean NLL (nats/token), ppl, top-1 accuracy and each token's NLL. */
    record Score(String model, long tokens, double nll, double ppl, double top1, double[] perToken) {
    }

    private final Path dir;
    private Process server;
    private String serverKey;
    private BufferedWriter toServer;
    private BufferedReader fromServer;
    private Path serverLog;

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

    /**
     * Scores a model on the token ids in {@code tokens} (whitespace-separated) with the pinned protocol's chunks of ctx - 1,
     * through one {@code perplexity.mjs --serve} process per (tokens, ctx, bos), so llama.cpp starts once for many files.
     */
    Score score(Path tokens, int ctx, int bos, Path model) throws IOException {
        String key = tokens.toAbsolutePath() + " " + ctx + " " + bos;
        if (server == null || !server.isAlive() || !key.equals(serverKey)) {
            close();
            serverLog = Files.createTempFile("llama-cpp", ".log");
            ProcessBuilder pb = new ProcessBuilder(NODE, "perplexity.mjs", "--serve", "--per-token", "--tokens", tokens.toAbsolutePath().toString(),
                    "--ctx", Integer.toString(ctx), "--bos", Integer.toString(bos)).directory(dir.toFile()).redirectError(serverLog.toFile());
            server = pb.start();
            serverKey = key;
            toServer = new BufferedWriter(new OutputStreamWriter(server.getOutputStream(), StandardCharsets.UTF_8));
            fromServer = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        }
        toServer.write(model.toAbsolutePath() + "\n");
        toServer.flush();
        String line;
        try {
            line = CompletableFuture.supplyAsync(() -> {
                try {
                    return fromServer.readLine();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).get(RUN_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException | ExecutionException e) {
            server.destroyForcibly();
            throw new AssertionError("perplexity.mjs gave no result for " + model + " (" + e + ")\nllama.cpp log:\n" + log());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        if (line == null) throw new AssertionError("perplexity.mjs exited without a result for " + model + "\nllama.cpp log:\n" + log());
        JsonNode n = new ObjectMapper().readTree(line);
        if (n.has("error")) throw new AssertionError("llama.cpp refused " + model + ": " + n.get("error").asText() + "\nllama.cpp log:\n" + log());
        double[] per = new double[n.get("nll_per_token").size()];
        for (int i = 0; i < per.length; i++) per[i] = n.get("nll_per_token").get(i).asDouble();
        return new Score(n.get("model").asText(), n.get("tokens").asLong(), n.get("nll").asDouble(), n.get("ppl").asDouble(),
                n.get("top1").asDouble(), per);
    }

    /** Ends the serving process (its stdin closed, so it disposes llama.cpp and exits). */
    @Override
    public void close() throws IOException {
        if (server == null) return;
        try {
            toServer.close();
            if (!server.waitFor(30, TimeUnit.SECONDS)) server.destroyForcibly();
        } catch (InterruptedException e) {
            server.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            server = null;
            Files.deleteIfExists(serverLog);
        }
    }

    private String log() throws IOException {
        String all = Files.readString(serverLog);
        return all.substring(Math.max(0, all.length() - 4000));
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

    /** A finished process: exit code (-1: could not start or timed out) and its stdout + stderr. */
    private record Run(int exit, String output) {
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
            return new Run(done ? p.exitValue() : -1, stdout + stderr + (done ? "" : "\n(timed out after " + timeoutS + " s)"));
        } catch (IOException e) {
            return new Run(-1, cmd[0] + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Run(-1, cmd[0] + ": interrupted");
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
