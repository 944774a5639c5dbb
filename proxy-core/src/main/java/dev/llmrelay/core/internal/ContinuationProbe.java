package dev.llmrelay.core.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llmrelay.core.RelayConfig;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a continuation's first events, holding them back, until a {@link ContinuationCheck} knows
 * whether the continuation continues the answer. Part of the continuation's attempt: nothing of it
 * reaches the client before this returns. Not thread-safe: one per continuation attempt.
 */
final class ContinuationProbe {
  private final ExchangeControl control;
  private final RelayConfig config;
  private final ChatStreamState chat;

  ContinuationProbe(ExchangeControl control, RelayConfig config, ChatStreamState chat) {
    this.control = control;
    this.config = config;
    this.chat = chat;
  }

  /**
   * The continuation, with the chunks held back (a repeated beginning already cut off) for the
   * relay to send first; or a failure: {@link AttemptFailure.Kind#RESTARTED} when it started the
   * answer over, or whatever broke it meanwhile. On failure the stream is closed.
   */
  AttemptOutcome verify(AttemptOutcome.Streaming opened) {
    OpenStream stream = opened.stream();
    SseEventScanner scanner = stream.scanner;
    ContinuationCheck check = new ContinuationCheck(chat.content());
    List<ObjectNode> held = new ArrayList<>();
    boolean ok = false;
    try {
      ContinuationCheck.Verdict verdict = ContinuationCheck.Verdict.UNDECIDED;
      while (verdict == ContinuationCheck.Verdict.UNDECIDED) {
        byte[] buf = scanner.buffer();
        int decidedAt = -1;
        for (int i = 0; i < scanner.events() && verdict == ContinuationCheck.Verdict.UNDECIDED; i++) {
          int from = scanner.dataFrom(i);
          if (from < 0) {
            continue; // a comment: nothing to judge; dropped while held
          }
          if (scanner.isDone(i)) {
            verdict = check.end();
            decidedAt = scanner.eventStart(i); // leave [DONE] for the relay
            break;
          }
          ObjectNode chunk = chat.continuationChunk(buf, from, scanner.dataTo(i));
          if (chunk == null) {
            continue;
          }
          if (ChatStreamState.isError(chunk)) {
            throw new AttemptFailure(AttemptFailure.Kind.ERROR_EVENT, "the continuation reported an error inside the stream", null);
          }
          held.add(chunk);
          verdict = check.offer(ChatStreamState.textOf(chunk));
          if (verdict == ContinuationCheck.Verdict.UNDECIDED && ChatStreamState.hasFinish(chunk)) {
            verdict = check.end();
          }
          decidedAt = scanner.eventEnd(i);
        }
        if (verdict != ContinuationCheck.Verdict.UNDECIDED) {
          scanner.consume(decidedAt);
          break;
        }
        scanner.consume(scanner.completeLength());
        if (stream.read() == -1) {
          verdict = check.end();
          if (verdict == ContinuationCheck.Verdict.UNDECIDED || !scanner.sawFinishReason()) {
            throw new AttemptFailure(AttemptFailure.Kind.EOF, "the continuation ended before it could be checked", null);
          }
        }
        if (scanner.size() > config.maxResponseBytes()) {
          throw new AttemptFailure(AttemptFailure.Kind.BAD_RESPONSE, "a continuation event exceeded MAX_RESPONSE_BYTES", null);
        }
      }
      if (verdict == ContinuationCheck.Verdict.RESTARTED) {
        throw new AttemptFailure(AttemptFailure.Kind.RESTARTED,
            "the continuation started the answer over instead of continuing it", null);
      }
      if (verdict == ContinuationCheck.Verdict.REPEATS) {
        cut(held, check.skip());
      }
      ok = true;
      return new AttemptOutcome.Streaming(opened.status(), opened.headers(), stream, held);
    } catch (AttemptFailure f) {
      return new AttemptOutcome.Failed(f);
    } catch (IOException e) {
      control.checkNotStopped();
      return new AttemptOutcome.Failed(StreamRelay.breakOf(e, stream, config));
    } finally {
      if (!ok) {
        stream.abandon();
      }
    }
  }

  /** Drops the first {@code skip} characters of text from the held chunks, and chunks left empty. */
  private static void cut(List<ObjectNode> held, int skip) {
    int left = skip;
    for (int i = 0; i < held.size() && left > 0; i++) {
      ObjectNode chunk = held.get(i);
      String text = ChatStreamState.textOf(chunk);
      int drop = Math.min(left, text.length());
      left -= drop;
      ChatStreamState.setText(chunk, text.substring(drop));
      if (drop == text.length() && !ChatStreamState.hasFinish(chunk) && !chunk.has("usage")) {
        held.remove(i--);
      }
    }
  }
}
