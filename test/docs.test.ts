// What the command line and the README tell a user: help that points to sections that exist,
// sizes in one unit (MB = 10⁶ bytes), and the page's defaults as the settings module has them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { program } from '../src/cli/program';
import { mb } from '../src/cli/units';
import { BUNDLED_MODELS, DEFAULT_SETTINGS, STUDIO_DEFAULTS } from '../src/engine/settings';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function allHelp(c: Command): string {
  return [c.helpInformation(), ...c.commands.map(allHelp)].join('\n');
}

describe('lemo --help and the README', () => {
  it('help points to README sections that exist, never to a file the repository lacks', () => {
    const help = allHelp(program);
    expect(help).not.toMatch(/LEMO\.md/);
    const headings = [...readme.matchAll(/^#+ (.+)$/gm)].map((m) => m[1].trim());
    const cited = [...help.matchAll(/README\.md, "([^"]+)"/g)].map((m) => m[1].replace(/\s+/g, ' '));
    expect(cited.length).toBeGreaterThan(0);
    for (const c of cited) expect(headings.filter((h) => h.startsWith(c)), c).not.toEqual([]);
  });

  it('prints sizes in MB of 10⁶ bytes, as the page does', () => {
    expect(mb(25_015_296)).toBe('25.0');
    expect(mb(1_500_000)).toBe('1.5');
  });

  it("lists the page's defaults as the settings module has them, and what the adapter zip holds", () => {
    const para = /The page's defaults:([\s\S]+?)\n\n/.exec(readme)?.[1].replace(/\s+/g, ' ') ?? '';
    const S = { ...DEFAULT_SETTINGS, ...STUDIO_DEFAULTS };
    expect(para).toContain(`context ${S.ctx} tokens (${BUNDLED_MODELS['lemo-tiny'].settings.ctx} for lemo-tiny)`);
    expect(para).toContain(`${S.steps} steps, batch ${S.batch}`);
    expect(para).toContain(`learning rate ${S.lr}`);
    expect(para).toContain(`LoRA r ${S.loraR} / alpha ${S.loraAlpha}`);
    expect(para).toContain(`blocks of ${S.block}, keep ratio ${S.keepRatio}`);
    expect(para).toContain(`held-out every ${S.evalEvery} steps on ${S.evalChunks} chunks`);
    expect(para).toContain(`recall every ${S.recallEvery} steps, a checkpoint every ${S.checkpointEvery} steps, provider ${S.provider}`);
    expect(para).toMatch(/adapter \.zip holds PEFT's `adapter_config\.json` and `adapter_model\.safetensors`, and `predictors\.safetensors`/);
  });
});
