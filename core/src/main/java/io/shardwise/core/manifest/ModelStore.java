package io.shardwise.core.manifest;

import com.google.protobuf.CodedOutputStream;
import io.shardwise.core.blob.BlobStore;
import io.shardwise.core.blob.BlobWriter;
import io.shardwise.core.blob.CorruptBlobException;
import io.shardwise.core.blob.Sha256;
import io.shardwise.core.tokenizer.VocabularyCodec;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.LowRankPairs;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;
import io.shardwise.proto.v1.TokenizerRef;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Models as claim checks: tensors live in content-addressed blobs, and a {@link ModelManifest}
 * (itself a blob) lists where each tensor is and which manifest and stage it came from.
 * Manifests serialize deterministically, so the same tensors give the same manifest digest.
 */
public final class ModelStore {
    /** Tensors in a shard blob start at multiples of this, as GGUF aligns them. */
    public static final int ALIGN = 32;

    private final BlobStore blobs;

    public ModelStore(BlobStore blobs) {
        this.blobs = blobs;
    }

    public BlobStore blobs() {
        return blobs;
    }

    /**
     * Stores a whole model: its tensors streamed into one blob straight from their (mapped) segments, the
     * tokenizer, and the manifest. Nothing proportional to the model passes through the heap.
     */
    public String importModel(LlamaModel model, String sourceUri, String name) throws IOException {
        List<TensorEntry> entries = storeTensors(model.tensors().values());
        String tok = blobs.put(VocabularyCodec.encode(model.vocabulary()));
        ModelManifest m = ModelManifest.newBuilder()
                .setArchitecture(model.config().arch())
                .setConfig(model.config().toProto())
                .setTokenizer(TokenizerRef.newBuilder().setBlob(tok).setKind(VocabularyCodec.kind(model.vocabulary()))
                        .setBos(model.vocabulary().bos()).setEos(model.vocabulary().eos()))
                .addAllTensors(sorted(entries))
                .setSourceUri(sourceUri)
                .setName(name)
                .build();
        return putManifest(m);
    }

    /**
     * Writes tensors into one blob (each aligned to 32 bytes), streaming each tensor's bytes from its segment,
     * and returns their entries. Pages of mapped tensors are released from this process once copied, so
     * storing a model leaves no more of it resident than one piece.
     */
    public List<TensorEntry> storeTensors(Collection<Tensor> tensors) throws IOException {
        List<TensorEntry.Builder> pending = new ArrayList<>();
        String digest;
        try (BlobWriter out = blobs.writer()) {
            for (Tensor t : tensors) {
                out.zeros(-out.position() & (ALIGN - 1));
                MemorySegment data = t.data();
                TensorEntry.Builder e = TensorEntry.newBuilder().setName(t.name()).setType(t.type().typeName())
                        .setOffset(out.position()).setNbytes(data.byteSize());
                for (long d : t.shape()) e.addShape(d);
                out.write(data);
                pending.add(e);
            }
            digest = out.commit();
        }
        List<TensorEntry> entries = new ArrayList<>();
        for (TensorEntry.Builder e : pending) entries.add(e.setBlob(digest).build());
        return entries;
    }

    /**
     * A manifest derived from {@code parent} with some tensors replaced, recording the stage that did it. A stage may
     * also add the low-rank factors {@code <w>.lora_a} and {@code <w>.lora_b} of a weight {@code w} the parent has
     * ({@link LowRankPairs}); when it outputs the pair but not {@code w} itself, the factors replace {@code w}
     * (truncated SVD, ASVD), and when it outputs {@code w} too, they complement it (LoRC).
     */
    public String derive(String parentDigest, StageSpec stage, Collection<TensorEntry> replaced) throws IOException {
        return derive(parentDigest, stage, replaced, Set.of());
    }

    /**
     * As {@link #derive(String, StageSpec, Collection)}, and without the tensors {@code removed}: whole blocks only (every
     * {@code blk.N.*} tensor of each block named), the blocks above renumbered down and n_layers lowered (ShortGPT).
     */
    public String derive(String parentDigest, StageSpec stage, Collection<TensorEntry> replaced, Collection<String> removed) throws IOException {
        ModelManifest parent = manifest(parentDigest);
        Map<String, TensorEntry> byName = new TreeMap<>();
        for (TensorEntry e : parent.getTensorsList()) byName.put(e.getName(), e);
        Set<String> output = new HashSet<>();
        for (TensorEntry e : replaced) output.add(e.getName());
        for (TensorEntry e : replaced) {
            String factorOf = factorOf(e.getName());
            boolean newFactor = factorOf != null && byName.containsKey(factorOf) && !byName.containsKey(e.getName());
            if (!byName.containsKey(e.getName()) && !newFactor) {
                throw new IllegalArgumentException("stage output names tensor " + e.getName() + " that model " + parentDigest + " does not have");
            }
            byName.put(e.getName(), e);
        }
        for (String name : output) {
            String w = factorOf(name);
            if (w != null && name.endsWith(TensorNames.LORA_A) && !output.contains(w)) byName.remove(w);
            String partner = w == null ? null : name.endsWith(TensorNames.LORA_A) ? TensorNames.loraB(w) : TensorNames.loraA(w);
            if (partner != null && !byName.containsKey(partner)) throw new IllegalArgumentException("stage output names low-rank factor " + name + " without its partner " + partner);
        }
        ModelManifest m = parent.toBuilder().clearTensors().addAllTensors(byName.values())
                .setConfig(withHeadCounts(withFfnLength(parent.getConfig(), byName, output), byName, output))
                .setParent(parentDigest).setStage(stage).setSourceUri("").build();
        return putManifest(removed.isEmpty() ? m : withoutBlocks(m, parentDigest, output, removed));
    }

    /** {@code m} without the blocks {@code removed} names in full, later blocks renumbered down, n_layers lowered. */
    private static ModelManifest withoutBlocks(ModelManifest m, String parentDigest, Set<String> output, Collection<String> removed) {
        Map<Integer, List<String>> blocks = new TreeMap<>();
        for (TensorEntry e : m.getTensorsList()) {
            int b = TensorNames.blockOf(e.getName());
            if (b >= 0) blocks.computeIfAbsent(b, k -> new ArrayList<>()).add(e.getName());
        }
        Set<String> gone = new HashSet<>(removed);
        Set<Integer> dropped = new java.util.TreeSet<>();
        for (String name : gone) {
            int b = TensorNames.blockOf(name);
            if (output.contains(name)) throw new IllegalArgumentException("stage output both replaces and removes tensor " + name);
            if (b < 0) throw new IllegalArgumentException("stage removes tensor " + name + ", which is no block's: only whole blocks (blk.N.*) can be removed");
            if (!blocks.getOrDefault(b, List.of()).contains(name)) throw new IllegalArgumentException("stage removes tensor " + name + " that model " + parentDigest + " does not have");
            dropped.add(b);
        }
        for (int b : dropped) {
            for (String name : blocks.get(b)) {
                if (!gone.contains(name)) throw new IllegalArgumentException("stage removes part of block " + b + " but keeps " + name + ": only whole blocks can be removed");
            }
        }
        int layers = m.getConfig().getNLayers();
        if (dropped.size() >= layers || blocks.size() != layers) {
            throw new IllegalArgumentException("stage removes blocks " + dropped + " of " + layers + (blocks.size() != layers ? " (model has " + blocks.size() + " blocks of tensors)" : ": no block would be left"));
        }
        Map<Integer, Integer> newIndex = new HashMap<>();
        for (int b : blocks.keySet()) if (!dropped.contains(b)) newIndex.put(b, newIndex.size());
        Map<String, TensorEntry> byName = new TreeMap<>();
        for (TensorEntry e : m.getTensorsList()) {
            int b = TensorNames.blockOf(e.getName());
            if (b < 0) byName.put(e.getName(), e);
            else if (!dropped.contains(b)) {
                String name = "blk." + newIndex.get(b) + e.getName().substring(("blk." + b).length());
                byName.put(name, e.toBuilder().setName(name).build());
            }
        }
        return m.toBuilder().clearTensors().addAllTensors(byName.values())
                .setConfig(m.getConfig().toBuilder().setNLayers(layers - dropped.size())).build();
    }

    /**
     * A stage that outputs narrower ffn_gate matrices (structured MLP channel pruning) sets the config's hidden_dim to
     * their length; it must be the same in every layer, as the config holds one. Other shape changes are not relaxed.
     */
    private static io.shardwise.proto.v1.ModelConfig withFfnLength(io.shardwise.proto.v1.ModelConfig c, Map<String, TensorEntry> byName, Set<String> output) {
        if (output.stream().noneMatch(n -> n.endsWith(".ffn_gate.weight"))) return c;
        Set<Long> lengths = new java.util.TreeSet<>();
        for (int l = 0; l < c.getNLayers(); l++) {
            TensorEntry g = byName.get(TensorNames.ffnGate(l));
            if (g == null || g.getShapeCount() != 2) return c; // factored: its shapes say nothing of the length
            lengths.add(g.getShape(1));
        }
        if (lengths.size() != 1) throw new IllegalArgumentException("stage output gives ffn_gate lengths " + lengths + " across layers, but the model config holds one hidden_dim");
        long h = lengths.iterator().next();
        return h == c.getHiddenDim() ? c : c.toBuilder().setHiddenDim(Math.toIntExact(h)).build();
    }

    /**
     * A stage that outputs narrower attn_q/attn_k matrices (attention-head pruning) sets n_heads and n_kv_heads to their
     * rows over head_dim, which stays (written out, as dim / n_heads no longer gives it); the same in every layer.
     */
    private static io.shardwise.proto.v1.ModelConfig withHeadCounts(io.shardwise.proto.v1.ModelConfig c, Map<String, TensorEntry> byName, Set<String> output) {
        if (output.stream().noneMatch(n -> n.endsWith(".attn_q.weight") || n.endsWith(".attn_k.weight"))) return c;
        int headDim = c.getHeadDim() != 0 ? c.getHeadDim() : c.getDim() / c.getNHeads();
        Set<List<Long>> rows = new java.util.TreeSet<>(java.util.Comparator.comparing(List::toString));
        for (int l = 0; l < c.getNLayers(); l++) {
            TensorEntry q = byName.get(TensorNames.attnQ(l)), k = byName.get(TensorNames.attnK(l));
            if (q == null || k == null || q.getShapeCount() != 2 || k.getShapeCount() != 2) return c; // factored: shapes say nothing of heads
            rows.add(List.of(q.getShape(1), k.getShape(1)));
        }
        if (rows.size() != 1) throw new IllegalArgumentException("stage output gives attn_q/attn_k rows " + rows + " across layers, but the model config holds one n_heads and n_kv_heads");
        List<Long> qk = rows.iterator().next();
        if (qk.get(0) % headDim != 0 || qk.get(1) % headDim != 0) {
            throw new IllegalArgumentException("stage output gives attn_q rows " + qk.get(0) + " and attn_k rows " + qk.get(1) + ", not whole heads of head_dim " + headDim);
        }
        int heads = Math.toIntExact(qk.get(0) / headDim), kvHeads = Math.toIntExact(qk.get(1) / headDim);
        if (heads == c.getNHeads() && kvHeads == c.getNKvHeads()) return c;
        if (kvHeads == 0 || heads % kvHeads != 0) throw new IllegalArgumentException("stage output leaves " + heads + " query heads over " + kvHeads + " kv heads (n_heads must be a multiple of n_kv_heads)");
        return c.toBuilder().setNHeads(heads).setNKvHeads(kvHeads).setHeadDim(headDim).build();
    }

    /** The weight a low-rank factor name belongs to, or null when the name is not a factor's. */
    private static String factorOf(String name) {
        if (!LowRankPairs.isFactor(name)) return null;
        return name.substring(0, name.length() - TensorNames.LORA_A.length()); // both suffixes have the same length
    }

    public String putManifest(ModelManifest m) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream cos = CodedOutputStream.newInstance(bytes);
        cos.useDeterministicSerialization();
        m.writeTo(cos);
        cos.flush();
        return blobs.put(bytes.toByteArray());
    }

    /** Reads a manifest blob, checking that its bytes still hash to its name (it is small; tensor blobs are only bounds-checked). */
    public ModelManifest manifest(String digest) throws IOException {
        byte[] bytes = blobs.get(digest);
        String actual = Sha256.of(bytes);
        if (!actual.equals(digest)) {
            throw new CorruptBlobException("manifest blob " + digest + " is corrupt: its " + bytes.length + " bytes hash to " + actual);
        }
        try {
            return ModelManifest.parseFrom(bytes);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new ModelFormatException("blob " + digest + " is not a model manifest: " + e.getMessage(), e);
        }
    }

    /** Maps the named tensors of a manifest (a shard reads only its own) for the store's lifetime. Prefer the arena variant. */
    public Map<String, Tensor> tensors(ModelManifest m, Collection<String> names) throws IOException {
        return tensors(m, names, null);
    }

    /**
     * Maps the named tensors of a manifest while {@code arena} is open (null: the store's lifetime). Each blob
     * is mapped once; only the pages of these tensors are ever touched.
     */
    public Map<String, Tensor> tensors(ModelManifest m, Collection<String> names, Arena arena) throws IOException {
        Map<String, TensorEntry> byName = new LinkedHashMap<>();
        for (TensorEntry e : m.getTensorsList()) byName.put(e.getName(), e);
        Map<String, MemorySegment> mapped = new HashMap<>();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String n : names) {
            TensorEntry e = byName.get(n);
            if (e == null) throw new IllegalArgumentException("manifest has no tensor " + n);
            out.put(n, tensor(e, mapped, arena));
        }
        return out;
    }

    public Tensor tensor(TensorEntry e) throws IOException {
        return tensor(e, new HashMap<>(), null);
    }

    private Tensor tensor(TensorEntry e, Map<String, MemorySegment> mapped, Arena arena) throws IOException {
        MemorySegment blob = mapped.get(e.getBlob());
        if (blob == null) {
            blob = arena == null ? blobs.map(e.getBlob()) : blobs.map(e.getBlob(), arena);
            mapped.put(e.getBlob(), blob);
        }
        String at = "tensor " + e.getName() + " of blob " + e.getBlob();
        if (e.getOffset() < 0 || e.getNbytes() < 0 || e.getOffset() > blob.byteSize() - e.getNbytes()) {
            throw new CorruptBlobException(at + ": bytes [" + e.getOffset() + ", +" + e.getNbytes() + ") lie outside the blob's "
                    + blob.byteSize() + " bytes (truncated or not the blob the manifest was written with)");
        }
        long[] shape = e.getShapeList().stream().mapToLong(Long::longValue).toArray();
        try {
            return new Tensor(e.getName(), TensorType.parse(e.getType()), shape, blob.asSlice(e.getOffset(), e.getNbytes()));
        } catch (IllegalArgumentException | ArithmeticException ex) {
            throw new ModelFormatException("manifest entry " + at + ": " + ex.getMessage(), ex);
        }
    }

    /** The whole model of a manifest, tensors mapped from their blobs for the store's lifetime. Prefer the arena variant. */
    public LlamaModel load(String digest) throws IOException {
        return load(digest, null);
    }

    /** The whole model of a manifest, tensors mapped while {@code arena} is open (null: the store's lifetime). */
    public LlamaModel load(String digest, Arena arena) throws IOException {
        ModelManifest m = manifest(digest);
        LlamaConfig c = LlamaConfig.fromProto(m.getConfig());
        Map<String, Tensor> tensors = tensors(m, m.getTensorsList().stream().map(TensorEntry::getName).toList(), arena);
        return new LlamaModel(c, vocabulary(m), tensors);
    }

    public Vocabulary vocabulary(ModelManifest m) throws IOException {
        return VocabularyCodec.decode(blobs.get(m.getTokenizer().getBlob()), m.getTokenizer().getKind(), m.getConfig().getVocabSize(), "tokenizer blob " + m.getTokenizer().getBlob());
    }

    /** Bytes the model's tensors take (what a file of it holds, headers aside). */
    public static long tensorBytes(ModelManifest m) {
        return m.getTensorsList().stream().mapToLong(TensorEntry::getNbytes).sum();
    }

    private static List<TensorEntry> sorted(List<TensorEntry> entries) {
        List<TensorEntry> s = new ArrayList<>(entries);
        s.sort(Comparator.comparing(TensorEntry::getName));
        return s;
    }
}
