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
