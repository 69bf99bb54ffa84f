/**
 * The keys and shapes of Stability's single-file SD-XL base 1.0 checkpoint (generative-models
 * `sd_xl_base.yaml`: openaimodel UNet with model_channels 320, channel_mult [1, 2, 4],
 * transformer_depth [0, 2, 10], context_dim 2048, adm_in_channels 2816, linear projections; the
 * ldm VAE with ch 128, ch_mult [1, 2, 4, 4]; CLIP ViT-L/14 under conditioner.embedders.0.transformer
 * and OpenCLIP ViT-bigG/14 under conditioner.embedders.1.model), written out from the
 * architecture, independently of the converter's key rules.
 */
import type { FakeTensor } from './sparse-checkpoint.js';

type Add = (name: string, shape: number[]) => void;

function resBlock(add: Add, p: string, cin: number, cout: number, temb: number): void {
  add(`${p}.in_layers.0.weight`, [cin]);
  add(`${p}.in_layers.0.bias`, [cin]);
  add(`${p}.in_layers.2.weight`, [cout, cin, 3, 3]);
  add(`${p}.in_layers.2.bias`, [cout]);
  add(`${p}.emb_layers.1.weight`, [cout, temb]);
  add(`${p}.emb_layers.1.bias`, [cout]);
  add(`${p}.out_layers.0.weight`, [cout]);
  add(`${p}.out_layers.0.bias`, [cout]);
  add(`${p}.out_layers.3.weight`, [cout, cout, 3, 3]);
  add(`${p}.out_layers.3.bias`, [cout]);
  if (cin !== cout) {
    add(`${p}.skip_connection.weight`, [cout, cin, 1, 1]);
    add(`${p}.skip_connection.bias`, [cout]);
  }
}

function spatialTransformer(add: Add, p: string, c: number, depth: number, context: number): void {
  add(`${p}.norm.weight`, [c]);
  add(`${p}.norm.bias`, [c]);
  add(`${p}.proj_in.weight`, [c, c]);
  add(`${p}.proj_in.bias`, [c]);
  for (let i = 0; i < depth; i++) {
    const b = `${p}.transformer_blocks.${i}`;
    for (const a of ['attn1', 'attn2']) {
      const kv = a === 'attn1' ? c : context;
      add(`${b}.${a}.to_q.weight`, [c, c]);
      add(`${b}.${a}.to_k.weight`, [c, kv]);
      add(`${b}.${a}.to_v.weight`, [c, kv]);
      add(`${b}.${a}.to_out.0.weight`, [c, c]);
      add(`${b}.${a}.to_out.0.bias`, [c]);
    }
    add(`${b}.ff.net.0.proj.weight`, [8 * c, c]);
    add(`${b}.ff.net.0.proj.bias`, [8 * c]);
    add(`${b}.ff.net.2.weight`, [c, 4 * c]);
    add(`${b}.ff.net.2.bias`, [c]);
    for (const n of ['norm1', 'norm2', 'norm3']) {
      add(`${b}.${n}.weight`, [c]);
      add(`${b}.${n}.bias`, [c]);
    }
  }
  add(`${p}.proj_out.weight`, [c, c]);
  add(`${p}.proj_out.bias`, [c]);
}

function unet(add: Add): void {
  const p = 'model.diffusion_model';
  const [mc, mult, depth, ctx, temb] = [320, [1, 2, 4], [0, 2, 10], 2048, 1280];
  add(`${p}.time_embed.0.weight`, [temb, mc]);
  add(`${p}.time_embed.0.bias`, [temb]);
  add(`${p}.time_embed.2.weight`, [temb, temb]);
  add(`${p}.time_embed.2.bias`, [temb]);
  add(`${p}.label_emb.0.0.weight`, [temb, 2816]);
  add(`${p}.label_emb.0.0.bias`, [temb]);
  add(`${p}.label_emb.0.2.weight`, [temb, temb]);
  add(`${p}.label_emb.0.2.bias`, [temb]);
  add(`${p}.input_blocks.0.0.weight`, [mc, 4, 3, 3]);
  add(`${p}.input_blocks.0.0.bias`, [mc]);
  const chans = [mc];
  let ch = mc;
  let n = 1;
  mult.forEach((m, level) => {
    for (let i = 0; i < 2; i++, n++) {
      resBlock(add, `${p}.input_blocks.${n}.0`, ch, mc * m, temb);
      ch = mc * m;
      if (depth[level]) spatialTransformer(add, `${p}.input_blocks.${n}.1`, ch, depth[level], ctx);
      chans.push(ch);
    }
    if (level < mult.length - 1) {
      add(`${p}.input_blocks.${n}.0.op.weight`, [ch, ch, 3, 3]);
      add(`${p}.input_blocks.${n}.0.op.bias`, [ch]);
      chans.push(ch);
      n++;
    }
  });
  resBlock(add, `${p}.middle_block.0`, ch, ch, temb);
  spatialTransformer(add, `${p}.middle_block.1`, ch, depth.at(-1)!, ctx);
  resBlock(add, `${p}.middle_block.2`, ch, ch, temb);
  n = 0;
  [...mult.keys()].reverse().forEach((level) => {
    for (let i = 0; i < 3; i++, n++) {
      const skip = chans.pop()!;
      resBlock(add, `${p}.output_blocks.${n}.0`, ch + skip, mc * mult[level], temb);
      ch = mc * mult[level];
      if (depth[level]) spatialTransformer(add, `${p}.output_blocks.${n}.1`, ch, depth[level], ctx);
      if (level > 0 && i === 2) {
        const at = depth[level] ? 2 : 1;
        add(`${p}.output_blocks.${n}.${at}.conv.weight`, [ch, ch, 3, 3]);
        add(`${p}.output_blocks.${n}.${at}.conv.bias`, [ch]);
      }
    }
  });
  add(`${p}.out.0.weight`, [mc]);
  add(`${p}.out.0.bias`, [mc]);
  add(`${p}.out.2.weight`, [4, mc, 3, 3]);
  add(`${p}.out.2.bias`, [4]);
}

function vaeBlock(add: Add, p: string, cin: number, cout: number): void {
  for (const [n, shape] of [
    ['norm1', [cin]],
    ['conv1', [cout, cin, 3, 3]],
    ['norm2', [cout]],
    ['conv2', [cout, cout, 3, 3]],
  ] as const) {
    add(`${p}.${n}.weight`, [...shape]);
    add(`${p}.${n}.bias`, [n.startsWith('norm') ? shape[0] : cout]);
  }
  if (cin !== cout) {
    add(`${p}.nin_shortcut.weight`, [cout, cin, 1, 1]);
    add(`${p}.nin_shortcut.bias`, [cout]);
  }
}

function vaeMid(add: Add, p: string, c: number): void {
  vaeBlock(add, `${p}.mid.block_1`, c, c);
  add(`${p}.mid.attn_1.norm.weight`, [c]);
  add(`${p}.mid.attn_1.norm.bias`, [c]);
  for (const k of ['q', 'k', 'v', 'proj_out']) {
    add(`${p}.mid.attn_1.${k}.weight`, [c, c, 1, 1]);
    add(`${p}.mid.attn_1.${k}.bias`, [c]);
  }
  vaeBlock(add, `${p}.mid.block_2`, c, c);
}

function vae(add: Add): void {
  const p = 'first_stage_model';
  const chs = [128, 256, 512, 512];
  add(`${p}.encoder.conv_in.weight`, [128, 3, 3, 3]);
  add(`${p}.encoder.conv_in.bias`, [128]);
  let cin = 128;
  chs.forEach((c, i) => {
    for (let b = 0; b < 2; b++, cin = c) vaeBlock(add, `${p}.encoder.down.${i}.block.${b}`, cin, c);
    if (i < 3) {
      add(`${p}.encoder.down.${i}.downsample.conv.weight`, [c, c, 3, 3]);
      add(`${p}.encoder.down.${i}.downsample.conv.bias`, [c]);
    }
  });
  vaeMid(add, `${p}.encoder`, 512);
  add(`${p}.encoder.norm_out.weight`, [512]);
  add(`${p}.encoder.norm_out.bias`, [512]);
  add(`${p}.encoder.conv_out.weight`, [8, 512, 3, 3]);
  add(`${p}.encoder.conv_out.bias`, [8]);
  add(`${p}.quant_conv.weight`, [8, 8, 1, 1]);
  add(`${p}.quant_conv.bias`, [8]);
  add(`${p}.post_quant_conv.weight`, [4, 4, 1, 1]);
  add(`${p}.post_quant_conv.bias`, [4]);
  add(`${p}.decoder.conv_in.weight`, [512, 4, 3, 3]);
  add(`${p}.decoder.conv_in.bias`, [512]);
  vaeMid(add, `${p}.decoder`, 512);
  cin = 512;
  for (let i = 3; i >= 0; i--) {
    const c = chs[i];
    for (let b = 0; b < 3; b++, cin = c) vaeBlock(add, `${p}.decoder.up.${i}.block.${b}`, cin, c);
    if (i > 0) {
      add(`${p}.decoder.up.${i}.upsample.conv.weight`, [c, c, 3, 3]);
      add(`${p}.decoder.up.${i}.upsample.conv.bias`, [c]);
    }
  }
  add(`${p}.decoder.norm_out.weight`, [128]);
  add(`${p}.decoder.norm_out.bias`, [128]);
  add(`${p}.decoder.conv_out.weight`, [3, 128, 3, 3]);
  add(`${p}.decoder.conv_out.bias`, [3]);
}

function clipL(add: Add): void {
  const p = 'conditioner.embedders.0.transformer.text_model';
  add(`${p}.embeddings.token_embedding.weight`, [49408, 768]);
  add(`${p}.embeddings.position_embedding.weight`, [77, 768]);
  for (let i = 0; i < 12; i++) {
    const l = `${p}.encoder.layers.${i}`;
    for (const k of ['q', 'k', 'v', 'out']) {
      add(`${l}.self_attn.${k}_proj.weight`, [768, 768]);
      add(`${l}.self_attn.${k}_proj.bias`, [768]);
    }
    for (const n of ['layer_norm1', 'layer_norm2']) {
      add(`${l}.${n}.weight`, [768]);
      add(`${l}.${n}.bias`, [768]);
    }
    add(`${l}.mlp.fc1.weight`, [3072, 768]);
    add(`${l}.mlp.fc1.bias`, [3072]);
    add(`${l}.mlp.fc2.weight`, [768, 3072]);
    add(`${l}.mlp.fc2.bias`, [768]);
  }
  add(`${p}.final_layer_norm.weight`, [768]);
  add(`${p}.final_layer_norm.bias`, [768]);
}

function openClipBigG(add: Add): void {
  const p = 'conditioner.embedders.1.model';
  const w = 1280;
  add(`${p}.positional_embedding`, [77, w]);
  add(`${p}.text_projection`, [w, w]);
  add(`${p}.token_embedding.weight`, [49408, w]);
  add(`${p}.ln_final.weight`, [w]);
  add(`${p}.ln_final.bias`, [w]);
  for (let i = 0; i < 32; i++) {
    const r = `${p}.transformer.resblocks.${i}`;
    add(`${r}.ln_1.weight`, [w]);
    add(`${r}.ln_1.bias`, [w]);
    add(`${r}.attn.in_proj_weight`, [3 * w, w]);
    add(`${r}.attn.in_proj_bias`, [3 * w]);
    add(`${r}.attn.out_proj.weight`, [w, w]);
    add(`${r}.attn.out_proj.bias`, [w]);
    add(`${r}.ln_2.weight`, [w]);
    add(`${r}.ln_2.bias`, [w]);
    add(`${r}.mlp.c_fc.weight`, [4 * w, w]);
    add(`${r}.mlp.c_fc.bias`, [4 * w]);
    add(`${r}.mlp.c_proj.weight`, [w, 4 * w]);
    add(`${r}.mlp.c_proj.bias`, [w]);
  }
}

/** Every weight of sd_xl_base_1.0.safetensors as float16, by component (no buffers, no extras). */
export function sdxlBaseWeights(): Record<'unet' | 'vae' | 'text_encoder' | 'text_encoder_2', FakeTensor[]> {
  const out = {
    unet: [] as FakeTensor[],
    vae: [] as FakeTensor[],
    text_encoder: [] as FakeTensor[],
    text_encoder_2: [] as FakeTensor[],
  };
  const into =
    (list: FakeTensor[]): Add =>
    (name, shape) =>
      void list.push({ name, shape, dtype: 'F16' });
  unet(into(out.unet));
  vae(into(out.vae));
  clipL(into(out.text_encoder));
  openClipBigG(into(out.text_encoder_2));
  return out;
}
