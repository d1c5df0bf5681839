package io.shardwise.core.format;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Seeded byte mutations of a small valid GGUF: every read succeeds or throws ModelFormatException, nothing else. */
class GgufFuzzTest {
    @TempDir
    Path tmp;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS) // a hang guard, not a timing assertion
    void mutatedFilesFailCleanly() throws Exception {
        Path p = tmp.resolve("tiny.gguf");
        GgufLlama.write(TestModels.tiny(7, false), p, new GgufLlama.WriteOptions("fuzz", io.shardwise.core.tensor.GgmlType.Q8_0));
        byte[] valid = Files.readAllBytes(p);
        int headerEnd;
        {
            GgufFile f = GgufFile.parse(MemorySegment.ofArray(valid), "valid");
            headerEnd = (int) f.dataOffset();
        }
        Random r = new Random(20261125L);
        int ok = 0, refused = 0;
        for (int round = 0; round < 300; round++) {
            byte[] b = valid.clone();
            int edits = 1 + r.nextInt(8);
            for (int e = 0; e < edits; e++) {
                // most edits hit the header, where the structure is; some the data
                int at = r.nextInt(10) < 9 ? r.nextInt(headerEnd) : r.nextInt(b.length);
                switch (r.nextInt(4)) {
                    case 0 -> b[at] = (byte) r.nextInt(256);
                    case 1 -> b[at] ^= (byte) (1 << r.nextInt(8));
                    case 2 -> b[at] = (byte) 0xff;
                    default -> b[at] = 0;
                }
            }
            if (r.nextInt(10) == 0) b = java.util.Arrays.copyOf(b, r.nextInt(b.length));
            try {
                GgufFile f = GgufFile.parse(MemorySegment.ofArray(b), "fuzz#" + round);
                GgufLlama.read(f);
                ok++;
            } catch (ModelFormatException e) {
                assertTrue(e.getMessage().startsWith("fuzz#" + round + ": "), e.getMessage());
                refused++;
            } catch (Throwable t) {
                fail("round " + round + ": " + t, t);
            }
        }
        System.out.println("GGUF fuzz: " + ok + " mutated files read, " + refused + " refused with ModelFormatException");
        assertTrue(refused > 50, "most header mutations must be refused, got " + refused);
    }
}
