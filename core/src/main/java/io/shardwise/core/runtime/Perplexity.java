package io.shardwise.core.runtime;

import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Perplexity under the pinned protocol "ppl-v1" (shared/data/README.md): encode the whole text once
 * (llama2.c encode, no BOS/EOS), cut the tokens into consecutive chunks of context - 1 (context =
 * seq_len capped at 2048), feed each chunk as [BOS] + chunk from an empty KV cache, and average the
 * NLL of every chunk token; ppl = exp(mean NLL). Chunks run in parallel, one session per thread;
 * the sum is taken in chunk order, so the result does not depend on the thread count.
 */
public final class Perplexity {
    public static final String PROTOCOL = "ppl-v1";
    public static final int MAX_CONTEXT = 2048;

    private Perplexity() {
    }

    public static PerplexityResult evaluate(LlamaModel m, TextTokenizer t, String text, long maxTokens) {
        return evaluateTokens(new LlamaRuntime(m), t.bos(), cap(t.encode(text), maxTokens), defaultThreads());
    }

    /** Reads the file's bytes as they are and scores them. */
    public static PerplexityResult evaluateFile(LlamaModel m, Path file, long maxTokens) throws IOException {
        return evaluateFile(new LlamaRuntime(m), Tokenizers.forVocabulary(m.vocabulary()), file, maxTokens, defaultThreads());
    }

    public static PerplexityResult evaluateFile(LlamaRuntime rt, TextTokenizer t, Path file, long maxTokens, int threads) throws IOException {
        return evaluateTokens(rt, t.bos(), cap(t.encode(Files.readAllBytes(file)), maxTokens), threads);
    }

    /** {@link #evaluateFile(LlamaModel, Path, long)} with the KV cache kept as {@code kv} (f32, or KIVI int8/int4). */
    public static PerplexityResult evaluateFile(LlamaModel m, Path file, long maxTokens, KvCacheType kv) throws IOException {
        return evaluateFile(new LlamaRuntime(m), Tokenizers.forVocabulary(m.vocabulary()), file, maxTokens, defaultThreads(), kv);
    }

    /** {@link #evaluateFile(LlamaRuntime, TextTokenizer, Path, long, int)} with the sessions' KV cache kept as {@code kv}. */
    public static PerplexityResult evaluateFile(LlamaRuntime rt, TextTokenizer t, Path file, long maxTokens, int threads, KvCacheType kv) throws IOException {
        return evaluateFile(rt.withKvCache(kv), t, file, maxTokens, threads);
    }

    /** The context the protocol uses for a model: its seq_len, at most {@value #MAX_CONTEXT}. */
    public static int context(LlamaConfig c) {
        return Math.min(c.seqLen(), MAX_CONTEXT);
    }

    public static int defaultThreads() {
        return Runtime.getRuntime().availableProcessors();
    }

    /** Scores already-encoded tokens (no BOS in them) chunk by chunk on {@code threads} threads. */
    public static PerplexityResult evaluateTokens(LlamaRuntime rt, int bos, int[] tokens, int threads) {
        int chunk = context(rt.config()) - 1;
        if (chunk < 1) throw new IllegalArgumentException("model context " + context(rt.config()) + " leaves no room for a chunk after BOS");
        int chunks = (tokens.length + chunk - 1) / chunk;
        double[] sums = new double[chunks];
        AtomicInteger nextChunk = new AtomicInteger();
        Runnable worker = () -> {
            LlamaRuntime.Session s = rt.newSession(chunk);
            for (int i; (i = nextChunk.getAndIncrement()) < chunks; ) {
                int off = i * chunk;
                sums[i] = Arrays.stream(chunkNll(s, bos, tokens, off, Math.min(chunk, tokens.length - off))).sum();
            }
        };
        int n = rt.threadConfined() ? 1 : Math.max(1, Math.min(threads, chunks));
        if (n == 1) {
            worker.run();
        } else {
            runParallel(worker, n);
        }
        double total = 0;
        for (double v : sums) total += v;
        return PerplexityResult.of(tokens.length, total);
    }

    /**
     * The logits of one chunk under the protocol: the session is emptied, then [BOS] + chunk
     * (without its last token, which nothing follows) is fed; row r predicts {@code tokens[off + r]}.
     */
    public static LlamaRuntime.Logits chunkLogits(LlamaRuntime.Session s, int bos, int[] tokens, int off, int len) {
        int[] input = new int[len];
        input[0] = bos;
        System.arraycopy(tokens, off, input, 1, len - 1);
        s.reset();
        return s.forward(input, 0, len);
    }

    /**
     * The NLL (nats) of each token of a chunk under the protocol: the numbers {@link #chunkLogits} gives, without
     * holding the logits of the whole chunk (512 x a 128k vocabulary would be 256 MB).
     */
    public static double[] chunkNll(LlamaRuntime.Session s, int bos, int[] tokens, int off, int len) {
        int[] input = new int[len];
        input[0] = bos;
        System.arraycopy(tokens, off, input, 1, len - 1);
        s.reset();
        return s.nll(input, 0, len, tokens, off);
    }

    private static int[] cap(int[] tokens, long maxTokens) {
        if (maxTokens < 0) throw new IllegalArgumentException("max_tokens must be >= 0 (0 = all), got " + maxTokens);
        return maxTokens == 0 || maxTokens >= tokens.length ? tokens : Arrays.copyOf(tokens, (int) maxTokens);
    }

    private static void runParallel(Runnable worker, int n) {
        try (ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "perplexity");
            t.setDaemon(true);
            return t;
        })) {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) futures.add(pool.submit(worker));
            for (Future<?> f : futures) f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("perplexity evaluation was interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause());
        }
    }
}
