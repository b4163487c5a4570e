// Console errors and uncaught exceptions of a page, less onnxruntime's own log lines.
import type { Page } from '@playwright/test';

export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // onnxruntime's native WebGPU provider logs through console.error; those lines are not failures.
    if (m.type() === 'error' && !/\[W:onnxruntime|\[I:onnxruntime|webgpu/i.test(m.text())) errors.push(m.text());
  });
  return errors;
}

/** The page's error banner holding exactly this sentence (the banner's dismiss button adds its ×). */
export function bannerText(sentence: string): RegExp {
  return new RegExp(`^${sentence.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}×?$`);
}
