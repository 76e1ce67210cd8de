/**
 * Reading the JSON-lines progress streams Docker answers builds, pulls and imports with. An
 * engine reports a failed build *inside* a 200 response (`{"errorDetail":{...},"error":"..."}`),
 * so a caller that only waits for the stream to end (as testcontainers' build does) takes a
 * failure for success; this reader returns the builder's own error text instead.
 */

/** What a progress stream said. */
export interface DockerProgress {
  /** The builder's / puller's own error, if it reported one. */
  error: string | null;
  /** Human output (`stream` and `status` fields), in order. */
  lines: string[];
  /** `aux.ID` (an image id, from builds and imports), if any. */
  id: string | null;
}

/** Fold the parsed JSON-lines of a Docker progress stream. Pure. */
export function readProgress(text: string): DockerProgress {
  const out: DockerProgress = { error: null, lines: [], id: null };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      out.lines.push(line);
      continue;
    }
    const detail = msg.errorDetail as { message?: unknown } | undefined;
    if (detail && typeof detail.message === 'string') out.error = detail.message;
    else if (typeof msg.error === 'string') out.error = msg.error;
    if (typeof msg.stream === 'string') out.lines.push(...msg.stream.split('\n').filter((l) => l.trim() !== ''));
    if (typeof msg.status === 'string') out.lines.push(`${msg.status}${typeof msg.id === 'string' ? ` ${msg.id}` : ''}`);
    const aux = msg.aux as { ID?: unknown } | undefined;
    if (aux && typeof aux.ID === 'string') out.id = aux.ID;
    if (typeof msg.status === 'string' && /^sha256:[0-9a-f]{64}$/.test(msg.status)) out.id = msg.status; // import answers the id as status
  }
  return out;
}

/** Read a progress stream to its end (rejects on a stream error or when `timeoutMs` passes). */
export async function followProgress(stream: NodeJS.ReadableStream, timeoutMs = 600_000): Promise<DockerProgress> {
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      (stream as { destroy?: () => void }).destroy?.();
      reject(new Error(`Docker did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    stream.on('data', (c: Buffer | string) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c)));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.on('error', (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  return readProgress(Buffer.concat(chunks).toString('utf8'));
}
