package dev.llmrelay.core.internal.jobs;

import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.ResponseSink;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * A job's client: keeps the response in memory, up to a limit, to be stored as the job's result.
 * Calls come from one thread at a time (the exchange's contract); the fields are read after the
 * exchange's completion, which happens-after them.
 */
final class CollectingSink implements ResponseSink {
  private final long maxBytes;
  private final ByteArrayOutputStream body = new ByteArrayOutputStream();
  int status;
  String contentType;
  boolean complete;
  boolean tooLarge;
  RelayException failure;

  CollectingSink(long maxBytes) {
    this.maxBytes = maxBytes;
  }

  @Override
  public void onResponse(int status, Map<String, List<String>> headers) {
    this.status = status;
    for (Map.Entry<String, List<String>> h : headers.entrySet()) {
      if ("content-type".equalsIgnoreCase(h.getKey()) && !h.getValue().isEmpty()) {
        contentType = h.getValue().get(0);
      }
    }
  }

  @Override
  public void onBody(byte[] buffer, int offset, int length) throws IOException {
    if (body.size() + (long) length > maxBytes) {
      tooLarge = true;
      throw new IOException("the job's response is larger than " + maxBytes + " bytes");
    }
    body.write(buffer, offset, length);
  }

  @Override
  public void flush() {}

  @Override
  public void onComplete() {
    complete = true;
  }

  @Override
  public void onFailure(RelayException error) {
    failure = error;
  }

  byte[] body() {
    return body.toByteArray();
  }
}
