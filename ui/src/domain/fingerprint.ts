/** A signing key's fingerprint in groups of four, as the admin reads it out to the chief
 * (the enrolment card, the admin console and the account notices show it alike). */
export function groupedFingerprint(fp: string): string {
  return fp.replace(/(.{4})/g, "$1 ").trim();
}
