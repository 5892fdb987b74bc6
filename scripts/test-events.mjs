// A reporter for Node's test runner that `scripts/test.mjs` reads: one JSON line per finished test and
// per summary line. The human-readable reporters change between Node versions (`spec` is the default
// from Node 23 on and prints `ℹ pass N` where `tap` prints `# pass N`); these events do not.
export default async function* events(source) {
  for await (const event of source) {
    const d = event.data ?? {};
    if (event.type === 'test:pass' || event.type === 'test:fail') {
      yield `${JSON.stringify({
        type: event.type === 'test:pass' ? 'pass' : 'fail',
        name: d.name,
        file: d.file,
        nesting: d.nesting,
        ...(d.skip !== undefined ? { skip: d.skip } : {}),
        ...(d.todo !== undefined ? { todo: d.todo } : {}),
        ...(d.details?.type !== undefined ? { kind: d.details.type } : {}),
      })}\n`;
    } else if (event.type === 'test:diagnostic' && d.nesting === 0) {
      // The runner's own closing counts: "tests N", "pass N", "fail N", "cancelled N", "skipped N", "todo N".
      yield `${JSON.stringify({ type: 'diagnostic', message: d.message })}\n`;
    }
  }
}
