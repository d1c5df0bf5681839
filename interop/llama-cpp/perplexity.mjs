#!/usr/bin/env node
// Perplexity of GGUF models under llama.cpp (node-llama-cpp's prebuilt CPU binary) on given token ids, with
// Shardwise's pinned protocol: the ids cut into chunks of ctx - 1, each fed as [BOS] + chunk from an empty
// sequence, every chunk token scored (its NLL from llama.cpp's logits, softmax in float64). Token ids come from
// a file, so tokenizer differences do not enter. One JSON line per model on stdout; llama.cpp's logs on stderr.
//
//   node perplexity.mjs --tokens ids.txt [--ctx 512] [--bos 1] [--threads 2] [--per-token] [--llama-defaults] a.gguf [b.gguf ...]
//   node perplexity.mjs --tokens ids.txt --serve ...   (model paths read from stdin, one a line, a JSON line back for each)
//
// By default the context computes in float32 like Shardwise's runtime: KV cache F32 and no flash attention
// (llama.cpp's defaults, --llama-defaults, keep K/V in F16, which moves stories260K's logits by ~1e-2).
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const usage = "usage: node perplexity.mjs --tokens FILE [--ctx N] [--bos ID] [--threads N] [--per-token] [--llama-defaults] (--serve | MODEL.gguf...)";
let args;
try {
    args = parseArgs({
        allowPositionals: true,
        options: {
            tokens: { type: "string" },
            ctx: { type: "string" },
            bos: { type: "string" },
            threads: { type: "string" },
            "per-token": { type: "boolean", default: false },
            "llama-defaults": { type: "boolean", default: false },
            serve: { type: "boolean", default: false },
        },
    });
} catch (e) {
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
}
const { values: opt, positionals: models } = args;
if (!opt.tokens || (models.length === 0) === !opt.serve) {
    console.error(usage);
    process.exit(2);
}

/** A non-negative integer option, or the fallback; anything else exits naming the option. */
function intOption(name, fallback) {
    const raw = opt[name];
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw)) {
        console.error(`--${name}: expected a non-negative integer, got '${raw}'`);
        process.exit(2);
    }
    return Number(raw);
}

const ids = readFileSync(opt.tokens, "utf8").split(/[\s,\[\]]+/).filter(s => s.length > 0).map(s => {
    if (!/^\d+$/.test(s)) {
        console.error(`--tokens ${opt.tokens}: '${s}' is not a token id`);
        process.exit(2);
    }
    return Number(s);
});
if (ids.length === 0) {
    console.error(`--tokens ${opt.tokens}: no token ids`);
    process.exit(2);
}
const threads = intOption("threads", Math.min(4, availableParallelism()));

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.warn, progressLogs: false });
let failed = false;
// --serve keeps llama.cpp loaded between models: a caller scoring many files pays its start once
const paths = opt.serve ? createInterface({ input: process.stdin, crlfDelay: Infinity }) : models;
for await (const line of paths) {
    const path = line.trim();
    if (path.length === 0) continue;
    try {
        console.log(JSON.stringify(await score(path)));
    } catch (e) {
        failed = true;
        console.log(JSON.stringify({ model: path, error: String(e?.message ?? e) }));
    }
}
await llama.dispose();
process.exit(failed ? 1 : 0);

async function score(path) {
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    try {
        const ctx = intOption("ctx", Math.min(model.trainContextSize, 2048)); // the protocol's context: seq_len, at most 2048
        const bos = intOption("bos", model.tokens.bos ?? 1);
        if (ctx < 2) throw new Error(`--ctx ${ctx} leaves no room for a chunk after BOS`);
        const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? Infinity;
        const bad = ids.find(t => t >= vocab);
        if (bad !== undefined) throw new Error(`token id ${bad} is outside the model's vocabulary of ${vocab}`);
        const exact = opt["llama-defaults"] ? {} : { flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" };
        const context = await model.createContext({ contextSize: ctx, batchSize: ctx, sequences: 1, threads, ...exact });
        try {
            const seq = context.getSequence();
            const chunk = ctx - 1, perToken = [];
            let sum = 0, top1 = 0;
            for (let off = 0; off < ids.length; off += chunk) {
                const part = ids.slice(off, off + chunk);
                await seq.clearHistory();
                // position r sees [BOS] + part[0..r) and predicts part[r]
                const input = [bos, ...part.slice(0, -1)].map(t => [t, { generateNext: { logits: true } }]);
                const out = await seq.controlledEvaluate(input);
                part.forEach((target, r) => {
                    const logits = out[r]?.next?.logits;
                    if (logits === undefined) throw new Error(`no logits at chunk offset ${off} position ${r}`);
                    let max = -Infinity;
                    for (const v of logits.values()) max = Math.max(max, v);
                    let z = 0;
                    for (const v of logits.values()) z += Math.exp(v - max);
                    const nll = max + Math.log(z) - logits.get(target);
                    sum += nll;
                    perToken.push(nll);
                    if (logits.keys().next().value === target) top1++; // the map is sorted by logit, highest first
                });
            }
            const nll = sum / ids.length;
            return {
                model: path, tokens: ids.length, chunks: Math.ceil(ids.length / chunk), ctx, bos, nll, ppl: Math.exp(nll),
                top1: top1 / ids.length, kv_cache: opt["llama-defaults"] ? "llama.cpp default" : "F32", threads,
                ...(opt["per-token"] ? { nll_per_token: perToken } : {}),
            };
        } finally {
            await context.dispose();
        }
    } finally {
        await model.dispose();
    }
}
