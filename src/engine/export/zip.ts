// Folders as one .zip download (fflate, stored without compression: safetensors of float
// weights barely compress and storing keeps a large export fast).
import { zipSync, type Zippable } from 'fflate';
import type { FolderFile } from './merged';

export function zipFolder(folder: string, files: FolderFile[]): Uint8Array {
  const tree: Zippable = {};
  for (const f of files) tree[`${folder}/${f.name}`] = [f.bytes, { level: 0 }];
  return zipSync(tree);
}
