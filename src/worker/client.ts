// The page's side of the protocol: each request is a promise with a timeout; events go to a listener.
import type { EngineEvent } from '../engine';
import type { RequestMap, RequestType, WorkerMessage, WorkerError } from './protocol';

export class EngineError extends Error {
  constructor(readonly detail: WorkerError) {
    super(detail.message);
    this.name = detail.user ? 'UserError' : 'EngineError';
  }
}

export class EngineClient {
  private worker: Worker;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> | undefined }>();

  constructor(private onEvent: (e: EngineEvent) => void, onCrash?: (message: string) => void) {
    this.worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'lemo-engine' });
    this.worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      if (m.kind === 'event') return this.onEvent(m.event);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (p.timer) clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new EngineError(m.error));
    };
    this.worker.onerror = (e) => {
      const message = `The engine worker crashed: ${e.message}`;
      for (const p of this.pending.values()) {
        if (p.timer) clearTimeout(p.timer);
        p.reject(new Error(message));
      }
      this.pending.clear();
      onCrash?.(message);
    };
  }

  /** timeoutMs 0 waits forever (a training run). */
  request<K extends RequestType>(type: K, args: RequestMap[K]['args'], timeoutMs = 120_000, transfer: Transferable[] = []): Promise<RequestMap[K]['result']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`The engine did not answer "${type}" within ${timeoutMs / 1000} s.`));
      }, timeoutMs) : undefined;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.worker.postMessage({ id, type, args }, transfer);
    });
  }

  /** Ends the worker; requests still waiting are rejected (a training run among them). */
  terminate(): void {
    this.worker.terminate();
    const error = new Error('The engine was stopped before it answered.');
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }
}
