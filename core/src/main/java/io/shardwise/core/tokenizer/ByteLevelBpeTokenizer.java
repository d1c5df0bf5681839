package io.shardwise.core.tokenizer;

import io.shardwise.core.model.Vocabulary;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.HashMap;
import java.util.Map;

/**
 * Byte-level BPE (GPT-2, Llama 3, Qwen2) as HF tokenizers runs a tokenizer.json with a ByteLevel pre-tokenizer:
 * added tokens split out first, then the pre-tokenizer's regex pieces, each piece's UTF-8 bytes mapped through
 * {@link ByteLevelAlphabet} and merged by rank ({@link BpeMerger}). Llama 3 ("llama-bpe") sets ignore_merges: a
 * piece that is itself a token is taken whole. Qwen2's tokenizer.json normalizes text to NFC first.
 */
public final class ByteLevelBpeTokenizer implements TextTokenizer {
    private final Vocabulary vocab;
    private final Map<String, Integer> ids;
    private final BpeMerger merger;
    private final PreTokenizer pre;
    private final AddedTokens added;
    private final boolean ignoreMerges;
    private final int[] byteIds = new int[256];

    public ByteLevelBpeTokenizer(Vocabulary vocab) {
        if (vocab.kind() != Vocabulary.Kind.BYTE_LEVEL_BPE) throw new IllegalArgumentException("not a byte-level BPE vocabulary: " + vocab.kind());
        this.vocab = vocab;
        this.pre = PreTokenizer.byGgufName(vocab.preTokenizer());
        if (pre == null) throw new IllegalArgumentException("unknown pre-tokenizer '" + vocab.preTokenizer() + "' (known: gpt2, llama-bpe, qwen2)");
        this.ids = new HashMap<>(vocab.size() * 2);
        for (int i = 0; i < vocab.size(); i++) if (!vocab.isSpecial(i)) ids.putIfAbsent(vocab.tokens().get(i), i);
        this.merger = new BpeMerger(vocab.merges(), ids, s -> s, "byte-level BPE merges");
        this.added = new AddedTokens(vocab);
        this.ignoreMerges = pre == PreTokenizer.LLAMA3;
        for (int b = 0; b < 256; b++) byteIds[b] = ids.getOrDefault(String.valueOf(ByteLevelAlphabet.charOf(b)), -1);
    }

    @Override
    public Vocabulary vocabulary() {
        return vocab;
    }

    @Override
    public int[] encode(String text) {
        IntList out = new IntList();
        for (AddedTokens.Segment s : added.split(text)) {
            if (s.id() >= 0) {
                out.add(s.id());
                continue;
            }
            String plain = pre == PreTokenizer.QWEN2 ? Normalizer.normalize(s.text(), Normalizer.Form.NFC) : s.text();
            for (String piece : pre.split(plain)) encodePiece(piece, out);
        }
        return out.toArray();
    }

    private void encodePiece(String piece, IntList out) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        if (ignoreMerges) {
            Integer whole = ids.get(ByteLevelAlphabet.encode(bytes));
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int[] sym = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            sym[i] = byteIds[bytes[i] & 0xFF];
            if (sym[i] < 0) throw new IllegalStateException("byte-level vocabulary has no token for byte " + (bytes[i] & 0xFF));
        }
        for (int id : merger.merge(sym, sym.length)) out.add(id);
    }

    @Override
    public String decode(int prevToken, int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int t : tokens) {
            String s = vocab.tokens().get(t);
            if (vocab.isSpecial(t) || !ByteLevelAlphabet.decode(s, new ByteArrayOutputStream())) {
                out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
            } else {
                ByteLevelAlphabet.decode(s, out);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
