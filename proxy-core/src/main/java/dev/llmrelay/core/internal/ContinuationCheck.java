package dev.llmrelay.core.internal;

/**
 * Decides, from its first characters, whether a continuation continues the answer the client
 * already has, or starts it over.
 *
 * <p>Why this is needed: a route asked for "the rest" (the request plus the text sent so far as an
 * assistant prefill) may not support prefill. It need not refuse it: it may take the trailing
 * assistant message as context and start the answer again. Forwarding that would show the client
 * the answer twice. So nothing of a continuation is forwarded until this check decides:
 *
 * <ul>
 *   <li>{@link Verdict#CONTINUES}: its text diverges from the start of the sent text within the
 *       first {@value #WINDOW} characters (or the sent text is empty): new text, forwarded as is.
 *   <li>{@link Verdict#REPEATS}: its text starts with the whole sent text: the route started over
 *       and produced the same answer; exactly that much ({@link #skip()} characters) is skipped and
 *       the rest forwarded.
 *   <li>{@link Verdict#RESTARTED}: its text matches the start of the sent text for at least
 *       {@value #WINDOW} characters (or all of a shorter sent text) and then diverges, or ends
 *       within it: the route started over with another answer; never forwarded, the next route
 *       is asked instead, as for a refused prefill.
 * </ul>
 *
 * The window bounds what a true continuation may share with the answer's opening by chance; a
 * shorter sent text shrinks it to its own length. Characters are UTF-16 units, as the sent text
 * is kept. Not thread-safe: one per continuation attempt.
 */
final class ContinuationCheck {
  /** How many leading characters a continuation may share with the answer's opening by chance. */
  static final int WINDOW = 16;

  /** What the continuation is. */
  enum Verdict {
    UNDECIDED,
    CONTINUES,
    REPEATS,
    RESTARTED
  }

  private final String sent;
  private final int window;
  private final StringBuilder seen = new StringBuilder();

  ContinuationCheck(String sent) {
    this.sent = sent;
    this.window = Math.min(sent.length(), WINDOW);
  }

  /** Adds the continuation's next piece of text and says what is known now. */
  Verdict offer(String text) {
    seen.append(text);
    return decide(false);
  }

  /** The continuation finished (or its text ended) here: decide with what there is. */
  Verdict end() {
    return decide(true);
  }

  /** For {@link Verdict#REPEATS}: how many leading characters of the continuation to drop. */
  int skip() {
    return sent.length();
  }

  private Verdict decide(boolean ended) {
    if (sent.isEmpty()) {
      return Verdict.CONTINUES;
    }
    int n = Math.min(seen.length(), sent.length());
    int common = 0;
    while (common < n && seen.charAt(common) == sent.charAt(common)) {
      common++;
    }
    if (common == sent.length()) {
      return Verdict.REPEATS;
    }
    if (common < seen.length()) {
      return common >= window ? Verdict.RESTARTED : Verdict.CONTINUES;
    }
    // What it said so far is the beginning of the sent text.
    if (ended) {
      return seen.length() == 0 ? Verdict.CONTINUES : Verdict.RESTARTED;
    }
    return Verdict.UNDECIDED;
  }
}
