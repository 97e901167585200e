/** A one-line description of the machine and the date, for benchmark reports (no paths, no host name). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export function machineDescription(): string {
  let cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // not Linux
  }
  const gib = (totalmem() / 2 ** 30).toFixed(0);
  return `${cpu}, ${cpus().length} cores, ${gib} GiB RAM, ${process.platform} ${kernel()}, Node ${process.versions.node}`;
}

function kernel(): string {
  const r = spawnSync('uname', ['-r'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** Today as YYYY-MM-DD (UTC). */
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Version of a Debian package, or null. */
export function debianVersion(pkg: string): string | null {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}
