/**
 * A clean install, on every path: no install script that a project depending on kotoba would
 * have to approve, and every dependency of ours that has an install script reviewed in
 * `allowScripts` (npm 11.16+ warns about each one that is not). `scripts/check-install.sh`
 * (run by .ci/run) does the real installs — fresh clone, `npm pack` tarball, git URL, folder.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers.js';

interface PackageJson {
  name: string;
  scripts?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };

/** The package name of a lockfile key: `node_modules/a/node_modules/@s/b` → `@s/b`. */
const nameOfLockKey = (key: string): string => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);

/** An allowScripts key (`name`, `name@1.2.3`, `@scope/name@1`) without its version part. */
const nameOfPolicyKey = (key: string): string => key.replace(/(?<=.)@.*$/, '');

test('kotoba has no script that npm runs when another project installs it', () => {
  // What npm lists as a dependency's install scripts: preinstall, install, postinstall, and
  // prepare for a folder, tarball or git dependency; a binding.gyp means `node-gyp rebuild`.
  const scripts = pkg.scripts ?? {};
  for (const name of ['preinstall', 'install', 'postinstall', 'prepare']) {
    assert.equal(scripts[name], undefined, `package.json runs "${name}": projects installing kotoba from a folder, tarball or git would have to approve it`);
  }
  assert.ok(!existsSync(join(repoRoot, 'binding.gyp')), 'a binding.gyp makes npm run node-gyp on install');
});

test('the build still runs where it must: npm ci, npm pack, a git install, npm start, npm test', () => {
  const scripts = pkg.scripts ?? {};
  // `dependencies` runs in this folder's own install (npm ci here, and npm's install inside its
  // clone of a git dependency), never in the project that depends on kotoba.
  for (const name of ['dependencies', 'prepack', 'start', 'test']) {
    assert.match(scripts[name] ?? '', /\bnpm run (--silent )?build\b/, `"${name}" should build`);
  }
});

test('allowScripts reviews exactly the dependencies that have install scripts', () => {
  const withScripts = new Set(
    Object.entries(lock.packages)
      .filter(([key, p]) => key !== '' && p.hasInstallScript)
      .map(([key]) => nameOfLockKey(key)),
  );
  const reviewed = new Set(Object.keys(pkg.allowScripts ?? {}).map(nameOfPolicyKey));
  for (const name of withScripts) {
    assert.ok(reviewed.has(name), `${name} has an install script that allowScripts does not cover: npm warns on every install (npm install-scripts approve|deny ${name})`);
  }
  for (const name of reviewed) {
    assert.ok(withScripts.has(name), `allowScripts names ${name}, which has no install script in package-lock.json (npm install-scripts prune)`);
  }
});
