package dev.llmrelay.core.internal;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.llmrelay.core.TokenUsage;
import java.io.IOException;

/**
 * One streaming pass over a JSON body that both validates it (exactly one well-formed value) and
 * picks the top-level {@code usage} block out of it, without building a tree. Stateless.
 */
final class JsonBodies {
  /** What one pass found. */
  record Inspection(boolean valid, TokenUsage usage) {}

  static final Inspection INVALID = new Inspection(false, null);

  private JsonBodies() {}

  static Inspection inspect(byte[] body, int offset, int length) {
    if (length == 0) {
      return INVALID;
    }
    try (JsonParser p = Json.FACTORY.createParser(body, offset, length)) {
      JsonToken first = p.nextToken();
      if (first == null) {
        return INVALID;
      }
      TokenUsage usage = null;
      if (first == JsonToken.START_OBJECT) {
        JsonToken t;
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
          String name = p.currentName();
          JsonToken value = p.nextToken();
          if ("usage".equals(name) && value == JsonToken.START_OBJECT) {
            usage = readUsage(p);
          } else {
            p.skipChildren();
          }
        }
        if (t != JsonToken.END_OBJECT) {
          return INVALID;
        }
      } else {
        p.skipChildren();
      }
      return p.nextToken() == null ? new Inspection(true, usage) : INVALID;
    } catch (IOException e) {
      return INVALID;
    }
  }

  static Inspection inspect(byte[] body) {
    return inspect(body, 0, body.length);
  }

  private static TokenUsage readUsage(JsonParser p) throws IOException {
    long prompt = 0;
    long completion = 0;
    long total = -1;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      JsonToken value = p.nextToken();
      if (value == JsonToken.VALUE_NUMBER_INT) {
        switch (name) {
          case "prompt_tokens" -> prompt = p.getLongValue();
          case "completion_tokens" -> completion = p.getLongValue();
          case "total_tokens" -> total = p.getLongValue();
          default -> { }
        }
      } else {
        p.skipChildren();
      }
    }
    return new TokenUsage(prompt, completion, total < 0 ? prompt + completion : total);
  }
}
