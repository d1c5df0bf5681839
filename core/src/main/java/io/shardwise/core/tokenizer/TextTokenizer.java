package io.shardwise.core.tokenizer;

import io.shardwise.core.model.Vocabulary;

/** Text to token ids and back, whatever the vocabulary's kind; {@link Tokenizers#forVocabulary} picks the implementation. */
public interface TextTokenizer {

    Vocabulary vocabulary();

    /** The ids of {@code text}, without BOS/EOS. */
    int[] encode(String text);

    /** The text of {@code tokens} following {@code prevToken} (-1 for none); SentencePiece drops the prefix space right after BOS. */
    String decode(int prevToken, int[] tokens);

    /** The ids of a UTF-8 text file's bytes; llama2.c's encoder reads the bytes as they are (the pinned protocol). */
    default int[] encode(byte[] utf8) {
        return encode(new String(utf8, java.nio.charset.StandardCharsets.UTF_8));
    }

    default int bos() {
        return vocabulary().bos();
    }

    default int eos() {
        return vocabulary().eos();
    }
}
