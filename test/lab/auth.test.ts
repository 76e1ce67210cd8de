/** lab/auth.ts: the key file a scenario with transfer.authKey gets, and that both CLIs accept it. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeAuthKey } from '../../lab/auth.js';
import { readAuthKey } from '../../wire/auth.js';

describe('writeAuthKey', () => {
  it('writes a fresh 0600 key that readAuthKey accepts, and the argv for both commands', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-labauth-'));
    try {
      const a = await writeAuthKey(dir);
      expect(a.argv).toEqual(['--auth-key', join(dir, 'auth.key')]);
      expect(statSync(a.path).mode & 0o777).toBe(0o600);
      expect(readAuthKey(a.path).length).toBe(44);
      const b = await writeAuthKey(dir, 'other.key');
      expect(readFileSync(b.path, 'utf8')).not.toBe(readFileSync(a.path, 'utf8'));
      await expect(writeAuthKey(dir)).rejects.toThrow(/EEXIST/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
