package dev.llmrelay.core.internal;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.llmrelay.core.TokenUsage;
import java.io.IOException;

/**
 * One streaming pass over a JSON body that both validates it (exactly one well-formed value) and
 * picks the top-level {@code usage} block out of it, without building a tree; and the routing
 * fields of a request body ({@link #requestFields}). Stateless.
 */
public final class JsonBodies {
  /** What one pass found. */
  /** The routing fields of a request body: top-level {@code model}, {@code models}, {@code stream}. */
  public record RequestFields(String model, java.util.List<String> models, boolean stream) {
    static final RequestFields NONE = new RequestFields(null, java.util.List.of(), false);
  }

  /**
   * Reads the top-level {@code model}, {@code models} (non-blank strings) and {@code stream} of a
   * JSON object body with the streaming parser; a body that is not one well-formed JSON object
   * gives none of them (the caller decides whether that is an error).
   */
  public static RequestFields requestFields(byte[] body) {
    try (JsonParser p = Json.FACTORY.createParser(body)) {
      if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
        return RequestFields.NONE;
      }
      return readRequestFields(p);
    } catch (IOException e) {
      return RequestFields.NONE;
    }
  }

  /**
   * Reads the routing fields of the object whose {@code START_OBJECT} {@code p} has just returned,
   * skipping every other member, up to and including its {@code END_OBJECT}. Shared with the
   * servlet's validating reader, which brings its own parser limits and error messages.
   *
   * @throws IOException when the object is not well-formed
   */
  public static RequestFields readRequestFields(JsonParser p) throws IOException {
    String model = null;
    java.util.List<String> models = java.util.List.of();
    boolean stream = false;
    com.fasterxml.jackson.core.JsonToken token;
    while ((token = p.nextToken()) == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
      String name = p.currentName();
      com.fasterxml.jackson.core.JsonToken value = p.nextToken();
      if ("model".equals(name) && value == com.fasterxml.jackson.core.JsonToken.VALUE_STRING) {
        model = p.getText(); // exact: the relay routes on it; logs clean it themselves
      } else if ("models".equals(name) && value == com.fasterxml.jackson.core.JsonToken.START_ARRAY) {
        java.util.List<String> list = new java.util.ArrayList<>();
        while ((token = p.nextToken()) != com.fasterxml.jackson.core.JsonToken.END_ARRAY && token != null) {
          if (token == com.fasterxml.jackson.core.JsonToken.VALUE_STRING && !p.getText().isBlank()) {
            list.add(p.getText());
          } else {
            p.skipChildren();
          }
        }
        models = list;
      } else if ("stream".equals(name) && value != null && value.isBoolean()) {
        stream = value == com.fasterxml.jackson.core.JsonToken.VALUE_TRUE;
      } else {
        p.skipChildren();
      }
    }
    if (token != com.fasterxml.jackson.core.JsonToken.END_OBJECT) {
      throw new com.fasterxml.jackson.core.JsonParseException(p, "the object is not complete");
    }
    return new RequestFields(model, models, stream);
  }

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
