// Saves a blob or a data URL under a file name through a temporary link.
export function saveUrl(url: string, file: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = file;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}

export function saveBlob(blob: Blob, file: string): void {
  const url = URL.createObjectURL(blob);
  saveUrl(url, file);
  // The download has its own reference by now; the URL itself can go.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
