package io.shardwise.core.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The regex splits of byte-level BPE tokenizers, named as llama.cpp's tokenizer.ggml.pre: GPT-2's (openai/gpt-2
 * encoder.py), Llama 3's and Qwen2's (their tokenizer.json Split patterns). Matches and the text between them are
 * both pieces (HF Split behaviour "Isolated").
 */
public enum PreTokenizer {
    GPT2("gpt2", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"),
    LLAMA3("llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
    QWEN2("qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");

    /** llama.cpp's name (GGUF tokenizer.ggml.pre). */
    public final String ggufName;
    /** The pattern as tokenizer.json spells it. */
    public final String regex;
    private final Pattern pattern;

    PreTokenizer(String ggufName, String regex) {
        this.ggufName = ggufName;
        this.regex = regex;
        // \s must be Unicode White_Space as in Oniguruma, which HF tokenizers uses
        this.pattern = Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    }

    public static PreTokenizer byGgufName(String name) {
        for (PreTokenizer p : values()) if (p.ggufName.equals(name)) return p;
        if ("default".equals(name) || name.isEmpty()) return GPT2;
        return null;
    }

    public static PreTokenizer byRegex(String regex) {
        for (PreTokenizer p : values()) if (p.regex.equals(regex)) return p;
        return null;
    }

    List<String> split(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) out.add(text.substring(last, m.start()));
            if (m.end() > m.start()) out.add(m.group());
            last = m.end();
        }
        if (last < text.length()) out.add(text.substring(last));
        return out;
    }
}
