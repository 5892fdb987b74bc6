// Runs a command under `strace -f -e trace=network` and lists the network activity that is not
// local inter-process communication: any socket other than AF_UNIX, and any DNS query (a connect or
// sendto to port 53, or a connection to a local resolver's socket).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Whether strace can run here (installed, and ptrace allowed). */
export function straceProblem(): string | null {
  if (process.platform !== 'linux') return 'strace is Linux only';
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=network', '-o', '/dev/null', 'true'], { encoding: 'utf8' });
  if (r.error !== undefined) return `strace is not installed (apt-get install strace): ${r.error.message}`;
  if (r.status !== 0) return `strace cannot trace here: ${r.stderr.trim()}`;
  return null;
}

/**
 * The environment of a traced child, without what makes ONNX Runtime stay quiet on its own (its
 * telemetry is suppressed when it believes it runs in a CI system or in its own unit tests): a test
 * must see what a user's machine would do.
 */
export function userLikeEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const ci = /^(CI|TF_BUILD|GITHUB_ACTIONS|GITLAB_CI|CIRCLECI|TRAVIS|JENKINS_URL|CODEBUILD_BUILD_ID|BUILDKITE|TEAMCITY_VERSION|APPVEYOR|BITBUCKET_BUILD_NUMBER|ORT_.*)$/;
  return Object.fromEntries(Object.entries(base).filter(([k]) => !ci.test(k)));
}

/** Starts `command args` under strace, writing the trace to `traceFile`. */
export function spawnTraced(traceFile: string, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcessWithoutNullStreams {
  return spawn('strace', ['-f', '-qq', '-e', 'trace=network', '-o', traceFile, command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...options,
  }) as ChildProcessWithoutNullStreams;
}

/** The lines of a trace that show network use beyond AF_UNIX, or a DNS lookup. */
export function networkViolations(trace: string): string[] {
  const bad: string[] = [];
  for (const line of trace.split('\n')) {
    const socket = /\bsocket\((AF_[A-Z0-9]+)/.exec(line);
    if (socket !== null && socket[1] !== 'AF_UNIX' && socket[1] !== 'AF_LOCAL') {
      bad.push(line);
      continue;
    }
    if (/\b(connect|sendto|sendmsg)\(.*htons\(53\)/.test(line)) {
      bad.push(line);
      continue;
    }
    // glibc may resolve names through nscd or systemd-resolved over a local socket.
    if (/\bconnect\(.*sun_path="[^"]*(nscd|resolve)/.test(line)) bad.push(line);
  }
  return bad;
}

export function readTrace(traceFile: string): string {
  return readFileSync(traceFile, 'utf8');
}
