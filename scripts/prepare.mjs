// npm's `prepare` script: builds the package (`npm run build:package`: the four wasm builds and
// dist/src) whenever npm is about to pack this folder, so that `npm pack`, `npm publish` and
// `npm install git+<url>` all give the same package, built by the same command.
//
// npm runs `prepare` in three situations (npm 11):
//   - `npm pack` / `npm publish` in this folder: build.
//   - a git install (`npm install git+<url>` elsewhere): npm clones the repository, runs
//     `npm install --force --include=dev` inside the clone (a local install, which runs `prepare`
//     itself), then runs `prepare` again from the installing project and packs the clone. Building
//     in both would cost the build twice (about 40 s); the second one, from the installing project,
//     is the one npm documents for git dependencies, so the local install inside the clone skips.
//   - a local `npm install` / `npm ci` with no arguments (a developer's clone, CI): skip. Nothing
//     needs the package build there (`npm run build` builds dist/ for the tests and the demo).
// A local install is npm_command install or ci run from this folder (INIT_CWD is where npm was
// started); a git install's own `prepare` runs from the installing project's folder.
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';

const here = realpathSync(process.cwd());
const from = process.env.INIT_CWD ? realpathSync(process.env.INIT_CWD) : here;
const localInstall = ['install', 'ci'].includes(process.env.npm_command ?? '') && from === here;
if (localInstall) {
  console.log('prepare: a local install of this folder, nothing to pack: the package build is skipped (npm run build builds dist/)');
} else {
  const npm = process.env.npm_execpath
    ? [process.execPath, [process.env.npm_execpath, 'run', 'build:package']]
    : [process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build:package']];
  const r = spawnSync(npm[0], npm[1], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
