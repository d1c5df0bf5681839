package io.shardwise.core.format;

import io.shardwise.core.model.Vocabulary;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * llama2.c's {@code tok*.bin}: int32 max_token_length, then per token float32 score, int32 byte
 * length and the UTF-8 bytes. BOS is 1 and EOS 2, as in llama2.c.
 */
public final class Llama2cTokenizerFile {
    private Llama2cTokenizerFile() {
    }

    public static Vocabulary read(byte[] bytes, int vocabSize, String source) throws ModelFormatException {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 4) throw new ModelFormatException(source + ": tokenizer file is truncated (no max_token_length)");
        int maxLen = b.getInt();
        if (maxLen <= 0 || maxLen > 1 << 16) throw new ModelFormatException(source + ": max_token_length " + maxLen + " is out of range");
        List<String> tokens = new ArrayList<>(vocabSize);
        float[] scores = new float[vocabSize];
        for (int i = 0; i < vocabSize; i++) {
            if (b.remaining() < 8) throw new ModelFormatException(source + ": tokenizer truncated at token " + i + " of " + vocabSize);
            scores[i] = b.getFloat();
            int len = b.getInt();
            if (len < 0 || len > b.remaining()) throw new ModelFormatException(source + ": token " + i + " length " + len + " runs past the end of the file");
            byte[] s = new byte[len];
            b.get(s);
            tokens.add(new String(s, StandardCharsets.UTF_8));
        }
        return new Vocabulary(tokens, scores, maxLen, 1, 2);
    }

    public static byte[] write(Vocabulary v) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        int maxLen = 0;
        List<byte[]> enc = new ArrayList<>();
        for (String t : v.tokens()) {
            byte[] e = t.getBytes(StandardCharsets.UTF_8);
            enc.add(e);
            maxLen = Math.max(maxLen, e.length);
        }
        out.write(b.putInt(0, Math.max(maxLen, v.maxTokenLength())).array(), 0, 4);
        for (int i = 0; i < enc.size(); i++) {
            b.clear();
            b.putFloat(v.scores()[i]).putInt(enc.get(i).length);
            out.write(b.array(), 0, 8);
            out.write(enc.get(i), 0, enc.get(i).length);
        }
        return out.toByteArray();
    }
}
