// The Hugging Face names of an INSTRUCTOR model's tensors and their PyTorch shapes: the one place
// that spells them. The encoder's are T5EncoderModel's state-dict names; the Dense head is the
// sentence-transformers module in 2_Dense/, whose own file names its weight `linear.weight`.
import type { T5Config } from './config.js';

/** The token embedding table [vocab, D] (T5 shares it with the decoder; the encoder only reads rows). */
export const EMBEDDING = 'shared.weight';
/** The tied copy of shared.weight that torch.save checkpoints of T5EncoderModel also carry. */
export const TIED_EMBEDDING = 'encoder.embed_tokens.weight';
/** The relative position bias table [buckets, H]: block 0 has it, every block reuses it. */
export const RELATIVE_BIAS = 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';
/** The RMSNorm after the last block [D]. */
export const FINAL_NORM = 'encoder.final_layer_norm.weight';
/** The INSTRUCTOR Dense head [out, D] (no bias, identity activation), as the weights file names it. */
export const DENSE_WEIGHT = '2_Dense.linear.weight';
/** The Dense head's weight as its own file in 2_Dense/ names it. */
export const DENSE_FILE_WEIGHT = 'linear.weight';

/**
 * The tensors of one encoder block, as names (LayerTensorNames) or as loaded weights (T5Layer,
 * t5.ts): M for the matrices, V for the norm weights.
 */
export interface LayerTensors<M, V> {
  attnNorm: V; // [D]
  q: M; // [H*Dk, D]
  k: M;
  v: M;
  o: M; // [D, H*Dk]
  ffnNorm: V; // [D]
  wi: M[]; // relu: [wi]; gated-gelu: [wi_0 (gelu branch), wi_1 (linear branch)], each [F, D]
  wo: M; // [D, F]
}

export type LayerTensorNames = LayerTensors<string, string>;

/** Block l's tensor names. */
export function layerTensorNames(l: number, ffn: T5Config['ffn']): LayerTensorNames {
  const b = `encoder.block.${l}.layer`;
  return {
    attnNorm: `${b}.0.layer_norm.weight`,
    q: `${b}.0.SelfAttention.q.weight`,
    k: `${b}.0.SelfAttention.k.weight`,
    v: `${b}.0.SelfAttention.v.weight`,
    o: `${b}.0.SelfAttention.o.weight`,
    ffnNorm: `${b}.1.layer_norm.weight`,
    wi: ffn === 'relu' ? [`${b}.1.DenseReluDense.wi.weight`] : [`${b}.1.DenseReluDense.wi_0.weight`, `${b}.1.DenseReluDense.wi_1.weight`],
    wo: `${b}.1.DenseReluDense.wo.weight`,
  };
}

export type TensorRole =
  | 'embedding' | 'relative_bias' | 'attn_norm' | 'q' | 'k' | 'v' | 'o'
  | 'ffn_norm' | 'wi' | 'wi_0' | 'wi_1' | 'wo' | 'final_norm' | 'dense';

const BLOCK_TENSOR = /^encoder\.block\.(\d+)\.layer\.([01])\.(layer_norm|SelfAttention\.(?:q|k|v|o|relative_attention_bias)|DenseReluDense\.(?:wi|wi_0|wi_1|wo))\.weight$/;
const BLOCK_ROLES: Record<string, TensorRole> = {
  '0.layer_norm': 'attn_norm', '0.SelfAttention.q': 'q', '0.SelfAttention.k': 'k', '0.SelfAttention.v': 'v',
  '0.SelfAttention.o': 'o', '0.SelfAttention.relative_attention_bias': 'relative_bias', '1.layer_norm': 'ffn_norm',
  '1.DenseReluDense.wi': 'wi', '1.DenseReluDense.wi_0': 'wi_0', '1.DenseReluDense.wi_1': 'wi_1', '1.DenseReluDense.wo': 'wo',
};

/**
 * Which tensor of an INSTRUCTOR model `name` is, with its encoder block (-1 outside the blocks),
 * or null for a name no such model has. Whether the config has it (a relu model has no wi_0, only
 * block 0 has the bias table) is for `t5TensorShapes` to say.
 */
export function tensorRole(name: string): { role: TensorRole; layer: number } | null {
  if (name === EMBEDDING) return { role: 'embedding', layer: -1 };
  if (name === FINAL_NORM) return { role: 'final_norm', layer: -1 };
  if (name === DENSE_WEIGHT) return { role: 'dense', layer: -1 };
  const m = BLOCK_TENSOR.exec(name);
  const role = m ? BLOCK_ROLES[`${m[2]}.${m[3]}`] : undefined;
  return m && role ? { role, layer: Number(m[1]) } : null;
}

/** How many encoder blocks a list of tensor names numbers: one past the highest block index (0 for none). */
export function encoderBlocks(names: Iterable<string>): number {
  let blocks = 0;
  for (const name of names) {
    const t = tensorRole(name);
    if (t && t.layer >= 0) blocks = Math.max(blocks, t.layer + 1);
  }
  return blocks;
}

/** The encoder's tensors with their PyTorch shapes, in load order (the Dense head is not among them). */
export function t5TensorShapes(c: T5Config): Array<[string, number[]]> {
  const D = c.dModel, HDk = c.numHeads * c.dKv, F = c.dFf;
  const out: Array<[string, number[]]> = [[EMBEDDING, [c.vocabSize, D]]];
  for (let l = 0; l < c.numLayers; l++) {
    const n = layerTensorNames(l, c.ffn);
    out.push([n.q, [HDk, D]], [n.k, [HDk, D]], [n.v, [HDk, D]], [n.o, [D, HDk]]);
    if (l === 0) out.push([RELATIVE_BIAS, [c.relativeBuckets, c.numHeads]]);
    out.push([n.attnNorm, [D]]);
    for (const wi of n.wi) out.push([wi, [F, D]]);
    out.push([n.wo, [D, F]], [n.ffnNorm, [D]]);
  }
  out.push([FINAL_NORM, [D]]);
  return out;
}
