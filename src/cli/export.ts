// lemo export: a PEFT adapter folded into its base model, written as a Hugging Face folder
// (config.json, model.safetensors under the original's names, tokenizer files copied).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { COPIED_FILES, mergeAdapter, parseAdapterConfig, readSafetensors, UserError, type FolderFile } from '../engine/node';
import { checkNotModelDir, checkOutput, ensureDir, readAdapterDir, readBytes, readModelDir, writeFile } from './files';
import { DEFAULT_MODEL_DIR, num } from './session';

export interface ExportOptions {
  adapter: string;
  out: string;
  model: string;
  ropeScale?: string;
}

/** Tokenizer and generation files of a model folder, as they are. */
export function copiedFiles(modelDir: string): FolderFile[] {
  return readdirSync(modelDir)
    .filter((n) => COPIED_FILES.test(n))
    .map((n) => ({ name: n, bytes: readBytes(join(modelDir, n), n) }));
}

export function writeFolder(dir: string, files: FolderFile[]): void {
  ensureDir(dir);
  for (const f of files) writeFile(join(dir, f.name), f.bytes);
}

export async function exportCommand(o: ExportOptions): Promise<void> {
  if (!existsSync(o.adapter)) throw new UserError(`Adapter folder not found: ${o.adapter}`);
  checkOutput(o.out, '--out', 'folder');
  checkNotModelDir(o.out, o.model, '--out');
  const adapter = readAdapterDir(o.adapter);
  const model = readModelDir(o.model);
  const files = mergeAdapter(model, parseAdapterConfig(adapter.config), readSafetensors(adapter.weights, 'adapter_model.safetensors'), {
    ropeScale: num(o.ropeScale, 'rope-scale'),
  });
  writeFolder(o.out, [...files, ...copiedFiles(o.model)]);
  process.stdout.write(`${JSON.stringify({ out: o.out, files: [...files.map((f) => f.name), ...copiedFiles(o.model).map((f) => f.name)] })}\n`);
}

export { DEFAULT_MODEL_DIR };
