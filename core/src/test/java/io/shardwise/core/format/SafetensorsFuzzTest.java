package io.shardwise.core.format;

import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.core.format.hf.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Seeded byte mutations of a real written model.safetensors: every read succeeds or throws ModelFormatException, nothing else. */
class SafetensorsFuzzTest {
    @TempDir
    Path tmp;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS) // a hang guard, not a timing assertion
    void mutatedFilesFailCleanly() throws Exception {
        Path dir = tmp.resolve("hf");
        HfLlama.write(TestModels.tiny(9, false), dir, HfLlama.WriteOptions.DEFAULT);
        byte[] valid = Files.readAllBytes(dir.resolve("model.safetensors"));
        int headerEnd = (int) SafetensorsFile.parse(MemorySegment.ofArray(valid), "valid").dataOffset();
        Random r = new Random(20261125L);
        int ok = 0, refused = 0;
        String digits = "0123456789";
        for (int round = 0; round < 400; round++) {
            byte[] b = valid.clone();
            int edits = 1 + r.nextInt(6);
            for (int e = 0; e < edits; e++) {
                // most edits hit the header (length and JSON), where the structure is; some the data
                int at = r.nextInt(10) < 9 ? r.nextInt(headerEnd) : r.nextInt(b.length);
                switch (r.nextInt(5)) {
                    case 0 -> b[at] = (byte) r.nextInt(256);
                    case 1 -> b[at] ^= (byte) (1 << r.nextInt(8));
                    case 2 -> b[at] = (byte) digits.charAt(r.nextInt(10)); // keeps JSON valid more often: new numbers
                    case 3 -> b[at] = (byte) "{}[],:\" ".charAt(r.nextInt(8));
                    default -> b[at] = 0;
                }
            }
            if (r.nextInt(10) == 0) b = Arrays.copyOf(b, r.nextInt(b.length));
            try (Arena arena = Arena.ofConfined()) {
                SafetensorsFile f = SafetensorsFile.parse(MemorySegment.ofArray(b), "fuzz#" + round);
                HfLlama.read(dir, f.tensors(), arena);
                ok++;
            } catch (ModelFormatException e) {
                assertTrue(e.getMessage().startsWith("fuzz#" + round + ": ") || e.getMessage().startsWith(dir.toString()), e.getMessage());
                refused++;
            } catch (Throwable t) {
                fail("round " + round + ": " + t, t);
            }
        }
        System.out.println("safetensors fuzz: " + ok + " mutated files read, " + refused + " refused with ModelFormatException");
        assertTrue(refused > 100, "most header mutations must be refused, got " + refused);
    }
}
