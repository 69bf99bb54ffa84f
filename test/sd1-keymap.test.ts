/** The CompVis → diffusers key rules against the machine-made mapping in sd15-manifest.json. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mapSd1Key, sd1LayoutFromConfigs, type Sd1Component } from '../weights-tools/sd1-keymap.js';
import { planSd1Conversion, type SourceTensor } from '../weights-tools/sd1-plan.js';
import { describeRef, readJson, repoRoot } from './helpers/reference.js';

interface MappingEntry {
  original: string;
  original_shape: number[];
  diffusers_shape: number[];
}
type Manifest = {
  original_to_diffusers: { mapping: Record<Sd1Component, Record<string, MappingEntry>>; num_original_keys: number };
} & Record<Sd1Component, { state_dict: Record<string, { shape: number[] }> }>;

const bundled = (rel: string) => JSON.parse(readFileSync(join(repoRoot, 'weights-tools', 'sd15-config', rel), 'utf8'));
const layout = sd1LayoutFromConfigs(bundled('unet/config.json'), bundled('vae/config.json'));
const COMPONENTS: Sd1Component[] = ['unet', 'vae', 'text_encoder'];

describe('SD-1.x key rules (unit)', () => {
  it('derives the SD-1.5 layout from the bundled configs', () => {
    expect(layout).to.deep.equal({ unetLayersPerBlock: 2, unetBlocks: 4, vaeBlocks: 4 });
  });
  it('maps representative keys', () => {
    const cases: [string, string][] = [
      ['model.diffusion_model.input_blocks.0.0.weight', 'conv_in.weight'],
      ['model.diffusion_model.input_blocks.4.0.skip_connection.bias', 'down_blocks.1.resnets.0.conv_shortcut.bias'],
      ['model.diffusion_model.input_blocks.3.0.op.weight', 'down_blocks.0.downsamplers.0.conv.weight'],
      [
        'model.diffusion_model.input_blocks.8.1.transformer_blocks.0.attn2.to_k.weight',
        'down_blocks.2.attentions.1.transformer_blocks.0.attn2.to_k.weight',
      ],
      ['model.diffusion_model.middle_block.2.emb_layers.1.weight', 'mid_block.resnets.1.time_emb_proj.weight'],
      ['model.diffusion_model.output_blocks.2.1.conv.bias', 'up_blocks.0.upsamplers.0.conv.bias'],
      ['model.diffusion_model.output_blocks.5.2.conv.weight', 'up_blocks.1.upsamplers.0.conv.weight'],
      ['model.diffusion_model.output_blocks.11.1.proj_out.weight', 'up_blocks.3.attentions.2.proj_out.weight'],
      ['model.diffusion_model.out.2.bias', 'conv_out.bias'],
      [
        'first_stage_model.decoder.up.0.block.2.nin_shortcut.weight',
        'decoder.up_blocks.3.resnets.2.conv_shortcut.weight',
      ],
      ['first_stage_model.encoder.mid.attn_1.proj_out.weight', 'encoder.mid_block.attentions.0.to_out.0.weight'],
      ['cond_stage_model.transformer.text_model.final_layer_norm.bias', 'text_model.final_layer_norm.bias'],
      ['cond_stage_model.transformer.encoder.layers.3.mlp.fc1.weight', 'text_model.encoder.layers.3.mlp.fc1.weight'],
    ];
    for (const [from, to] of cases) {
      const m = mapSd1Key(from, layout);
      expect(m.kind === 'map' && m.key, from).to.equal(to);
    }
    const attn = mapSd1Key('first_stage_model.decoder.mid.attn_1.q.weight', layout);
    expect(attn).to.deep.equal({
      kind: 'map',
      component: 'vae',
      key: 'decoder.mid_block.attentions.0.to_q.weight',
      squeeze: true,
    });
  });
  it('ignores training-only keys and rejects other model families and unknown keys', () => {
    expect(mapSd1Key('alphas_cumprod', layout).kind).to.equal('ignore');
    expect(mapSd1Key('model_ema.diffusion_modelinput_blocks00weight', layout).kind).to.equal('ignore');
    expect(mapSd1Key('cond_stage_model.transformer.text_model.embeddings.position_ids', layout).kind).to.equal(
      'ignore',
    );
    expect(mapSd1Key('cond_stage_model.model.transformer.resblocks.0.ln_1.weight', layout).kind).to.equal(
      'unsupported',
    );
    expect(mapSd1Key('model.diffusion_model.input_blocks.1.0.in_layers.1.weight', layout).kind).to.equal('unknown');
    expect(mapSd1Key('model.diffusion_model.input_blocks.13.0.in_layers.0.weight', layout).kind).to.equal('unknown');
    expect(mapSd1Key('first_stage_model.decoder.up.4.block.0.conv1.weight', layout).kind).to.equal('unknown');
  });
  it('plans: reports every unknown key, bad 1×1 shapes and missing components together', () => {
    const plan = planSd1Conversion(
      [
        { name: 'model.diffusion_model.input_blocks.0.0.weight', shape: [320, 4, 3, 3], dtype: 'F32' },
        { name: 'model.diffusion_model.bogus.weight', shape: [1], dtype: 'F32' },
        { name: 'first_stage_model.encoder.mid.attn_1.q.weight', shape: [512, 512, 3, 3], dtype: 'F32' },
        { name: 'first_stage_model.encoder.mid.attn_1.k.weight', shape: [512, 512, 1, 1], dtype: 'I64' },
        { name: 'betas', shape: [1000], dtype: 'F32' },
      ],
      layout,
    );
    // The two VAE tensors are both broken, so the VAE also counts as missing.
    expect(plan.problems).to.have.length(5);
    expect(plan.problems.join('\n'))
      .to.match(/no rule maps "model\.diffusion_model\.bogus\.weight" \[1\]/)
      .and.match(
        /"first_stage_model\.encoder\.mid\.attn_1\.q\.weight": expected a 1×1 conv weight \[C, C, 1, 1\], got \[512, 512, 3, 3\]/,
      )
      .and.match(/attn_1\.k\.weight": dtype I64 is not a float type/)
      .and.match(/no cond_stage_model\.transformer\.\* tensors: the text_encoder is missing/)
      .and.match(/no first_stage_model\.\* tensors: the vae is missing/);
    expect(plan.ignored).to.deep.equal([
      { key: 'betas', reason: 'DDPM schedule buffer (the scheduler config has it)' },
    ]);
  });
});

describeRef('SD-1.x key rules vs sd15-manifest.json (all 1130 original keys)', () => {
  const manifest = readJson<Manifest>('sd15-manifest.json');
  const mapping = manifest.original_to_diffusers.mapping;
  const originals: SourceTensor[] = COMPONENTS.flatMap((c) =>
    Object.values(mapping[c]).map((e) => ({ name: e.original, shape: e.original_shape, dtype: 'F32' as const })),
  );

  it('has 1130 original keys', () => {
    expect(originals).to.have.length(manifest.original_to_diffusers.num_original_keys).and.length(1130);
  });

  it('maps every original key to the manifest diffusers key and shape, producing every diffusers key once', () => {
    const plan = planSd1Conversion(originals, layout);
    expect(plan.problems).to.deep.equal([]);
    expect(plan.ignored).to.deep.equal([]);
    const wrong: string[] = [];
    for (const c of COMPONENTS) {
      const want = new Map(
        Object.entries(mapping[c]).map(([dst, e]) => [e.original, { dst, shape: e.diffusers_shape }]),
      );
      const got = plan.entries.filter((e) => e.component === c);
      for (const e of got) {
        const w = want.get(e.src);
        if (!w) wrong.push(`${c}: ${e.src} not in the manifest`);
        else if (w.dst !== e.dst) wrong.push(`${c}: ${e.src} → ${e.dst}, manifest says ${w.dst}`);
        else if (JSON.stringify(w.shape) !== JSON.stringify(e.dstShape))
          wrong.push(`${c}: ${e.dst} shape ${e.dstShape}, manifest ${w.shape}`);
      }
      const produced = new Set(got.map((e) => e.dst));
      for (const k of Object.keys(manifest[c].state_dict))
        if (!produced.has(k)) wrong.push(`${c}: ${k} never produced`);
      expect(got.length, c).to.equal(Object.keys(manifest[c].state_dict).length);
    }
    expect(wrong, wrong.slice(0, 20).join('\n')).to.deep.equal([]);
  });

  it('reshapes exactly the 8 VAE mid-block attention weights', () => {
    const plan = planSd1Conversion(originals, layout);
    const reshaped = plan.entries
      .filter((e) => JSON.stringify(e.srcShape) !== JSON.stringify(e.dstShape))
      .map((e) => e.dst)
      .sort();
    expect(reshaped).to.have.length(8);
    for (const k of reshaped) expect(k).to.match(/^(en|de)coder\.mid_block\.attentions\.0\.to_(q|k|v|out\.0)\.weight$/);
  });
});
