/**
 * Suites that need something outside the repository (the reference fixtures, chromium, the native
 * addon): without it the suite is skipped with one loud line; with the requirement variable set
 * (as `.ci/run` does) it is a failing test instead, so CI can never pass by skipping.
 */

/** `describe` when `missing` is undefined; else a loud skip, or a failure when `requireVar` is set. */
export function describeNeeding(
  title: string,
  missing: string | undefined,
  requireVar: string,
  body: (this: Mocha.Suite) => void,
): void {
  if (missing === undefined) {
    describe(title, body);
    return;
  }
  if (process.env[requireVar]) {
    describe(title, () =>
      it(`needs ${missing} (${requireVar} is set)`, () => {
        throw new Error(`${missing} (${requireVar} is set, so this is a failure, not a skip)`);
      }),
    );
    return;
  }
  console.warn(`    [SKIPPED: ${title}: ${missing}; set ${requireVar}=1 to make this a failure]`);
  // The body is not run: it may read what is missing while defining its tests.
  describe.skip(title, () => it(`needs ${missing}`));
}
