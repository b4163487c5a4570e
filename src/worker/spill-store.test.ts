import { describe, expect, it } from 'vitest';
import { folderStore, hasOpfs, NO_OPFS, roomRefusal, spillRefusal } from './spill-store';

describe("disk offload in the browser's storage", () => {
  it('is refused with a sentence where there is no origin-private file system', async () => {
    // Node has no OPFS: the same check the worker makes before a disk-offloaded run.
    expect(hasOpfs()).toBe(false);
    expect(hasOpfs({})).toBe(false);
    expect(await spillRefusal(1)).toBe(NO_OPFS);
    expect(NO_OPFS).toMatch(/: choose host memory or none for Offload activations\.$/);
  });

  it("refuses a run whose saved activations would not fit the storage's free room, before it starts", () => {
    expect(roomRefusal(50e6, { quota: 200e6, usage: 100e6 })).toBeNull();
    expect(roomRefusal(150e6, { quota: 200e6, usage: 100e6 })).toBe(
      "Offload to disk would keep up to about 150.0 MB of saved activations in this browser's storage, but only 100.0 MB is free there: free browser storage (other sites' data, in the browser's settings), or choose host memory or none for Offload activations.",
    );
    // A browser that does not say: the run goes, and a full storage mid-run stops it with its own sentence.
    expect(roomRefusal(150e6, {})).toBeNull();
  });

  it("runs the folder's file operations one at a time, each seeing the ones before it", async () => {
    // A stand-in folder whose handles take a while to open, counting how many are asked for at once.
    const files = new Map<string, Uint8Array>();
    let open = 0;
    let most = 0;
    const later = () => new Promise((r) => setTimeout(r, Math.random() * 3));
    const dir = {
      async getFileHandle(key: string, o?: { create?: boolean }) {
        if (!files.has(key) && !o?.create) throw new DOMException(key, 'NotFoundError');
        return {
          async createSyncAccessHandle() {
            most = Math.max(most, ++open);
            await later();
            return {
              write: (b: Uint8Array) => (files.set(key, b.slice()), b.byteLength),
              getSize: () => files.get(key)?.byteLength ?? 0,
              read: (out: Uint8Array) => (out.set(files.get(key) ?? new Uint8Array()), out.byteLength),
              close: () => void open--,
            };
          },
        };
      },
      async removeEntry(key: string) {
        most = Math.max(most, ++open);
        await later();
        files.delete(key);
        open--;
      },
    } as unknown as FileSystemDirectoryHandle;
    const store = folderStore(dir);
    const keys = Array.from({ length: 12 }, (_, i) => `0-1-${i}`);
    await Promise.all(keys.map((k, i) => store.write(k, Uint8Array.of(i, i + 1))));
    const back = await Promise.all(keys.map((k) => store.read(k).then(async (b) => (await store.remove(k), Array.from(b)))));
    expect(back).toEqual(keys.map((_, i) => [i, i + 1]));
    expect(files.size).toBe(0);
    expect(most).toBe(1);
  });
});
