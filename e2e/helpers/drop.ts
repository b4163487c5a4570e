// A real drag-and-drop of files onto an element: a DataTransfer built in the page, dispatched
// as dragenter, dragover and drop, as a browser does for a file dragged from the desktop.
import type { Locator } from '@playwright/test';

export interface DroppedFile {
  name: string;
  text: string;
  type?: string;
}

export async function dropFiles(target: Locator, files: DroppedFile[]): Promise<void> {
  const dataTransfer = await target.page().evaluateHandle((list: DroppedFile[]) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([f.text], f.name, { type: f.type ?? 'text/plain' }));
    return dt;
  }, files);
  for (const type of ['dragenter', 'dragover', 'drop']) await target.dispatchEvent(type, { dataTransfer });
  await dataTransfer.dispose();
}

/** Drops files with binary contents (each given as bytes). */
export async function dropBinaryFiles(target: Locator, files: { name: string; bytes: Uint8Array }[]): Promise<void> {
  const list = files.map((f) => ({ name: f.name, base64: Buffer.from(f.bytes).toString('base64') }));
  const dataTransfer = await target.page().evaluateHandle((l: { name: string; base64: string }[]) => {
    const dt = new DataTransfer();
    for (const f of l) dt.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name));
    return dt;
  }, list);
  for (const type of ['dragenter', 'dragover', 'drop']) await target.dispatchEvent(type, { dataTransfer });
  await dataTransfer.dispose();
}
