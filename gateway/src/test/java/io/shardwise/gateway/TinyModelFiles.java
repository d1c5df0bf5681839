package io.shardwise.gateway;

import io.shardwise.core.format.Llama2cTokenizerFile;
import io.shardwise.core.model.Vocabulary;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Writes a tiny seeded llama2.c checkpoint (dim 8, 2 layers, vocab 16) and its tok16.bin into a folder. */
final class TinyModelFiles {
    static final int DIM = 8, HIDDEN = 16, LAYERS = 2, HEADS = 2, KV_HEADS = 2, VOCAB = 16, SEQ = 8;

    private TinyModelFiles() {
    }

    static Path write(Path dir, String name, long seed) throws IOException {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n"));
        for (int i = 3; i < VOCAB; i++) tokens.add(String.valueOf((char) ('a' + i - 3)));
        return write(dir, name, seed, tokens);
    }

    /** The same shape with a byte-fallback vocabulary (unk, BOS, EOS, then the 256 byte tokens): any text encodes, one token per byte. */
    static Path writeWithByteVocab(Path dir, String name, long seed) throws IOException {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n"));
        for (int b = 0; b < 256; b++) tokens.add(String.format("<0x%02X>", b));
        return write(dir, name, seed, tokens);
    }

    private static Path write(Path dir, String name, long seed, List<String> tokens) throws IOException {
        int vocab = tokens.size();
        Files.createDirectories(dir);
        int head = DIM / HEADS, kv = DIM * KV_HEADS / HEADS;
        long floats = (long) vocab * DIM
                + LAYERS * (2L * DIM + (long) DIM * DIM * 2 + 2L * DIM * kv + 3L * DIM * HIDDEN)
                + DIM + 2L * SEQ * (head / 2);
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(28 + 4 * floats)).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : new int[]{DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, vocab, SEQ}) b.putInt(v);
        Random r = new Random(seed);
        for (long i = 0; i < floats; i++) b.putFloat((float) (r.nextGaussian() * 0.2));
        Path file = dir.resolve(name);
        Files.write(file, b.array());
        float[] scores = new float[vocab];
        for (int i = 0; i < vocab; i++) scores[i] = -i;
        Files.write(dir.resolve("tok" + vocab + ".bin"), Llama2cTokenizerFile.write(new Vocabulary(tokens, scores, 8, 1, 2)));
        return file;
    }

    /** The same model cut short, as a crashed copy leaves it. */
    static Path truncated(Path dir, String name) throws IOException {
        Path full = write(dir, name + ".full", 7);
        byte[] all = Files.readAllBytes(full);
        Path cut = dir.resolve(name);
        Files.write(cut, java.util.Arrays.copyOf(all, all.length / 2));
        Files.delete(full);
        return cut;
    }
}
