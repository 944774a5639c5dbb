package dev.llmrelay.core;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import dev.llmrelay.core.internal.JsonBodies;
import java.io.IOException;
import java.util.List;

/**
 * Checks a client request body in one streaming pass, without building a tree: it must be
 * exactly one well-formed JSON object, and its top-level routing fields ({@code model}, {@code
 * models}, {@code stream}) are picked out on the way, ready for a {@link ClientRequest}. This is
 * what the servlet adapter does with every body; an embedder that reads bodies itself can do the
 * same.
 *
 * <p>A body may be as large as the caller allows; Jackson's default limit on one string value (20
 * M characters) is lifted to {@code maxStringLength}, because base64 images in vision requests are
 * long strings. Error messages name what is wrong and where, never the body's content, which may
 * hold anything.
 *
 * <p>Immutable and thread-safe: create one and share it.
 */
public final class RequestBodies {
  /**
   * The routing fields of a valid body (model null and models empty when absent).
   *
   * @param model the top-level {@code model}, or null
   * @param models the {@code models} array, empty when absent
   * @param stream the {@code stream} flag
   */
  public record Fields(String model, List<String> models, boolean stream) {
    /**
     * Freezes the list.
     *
     * @param model the top-level {@code model}, or null
     * @param models the top-level {@code models} array, empty when absent
     * @param stream the top-level {@code stream} flag, false when absent
     */
    public Fields {
      models = List.copyOf(models);
    }
  }

  /** A body that is not exactly one JSON object; the message says why (never the content). */
  public static final class MalformedBodyException extends Exception {
    private static final long serialVersionUID = 1L;

    MalformedBodyException(String why) {
      super(why, null, false, false);
    }
  }

  private final JsonFactory json;

  /**
   * Creates a reader.
   *
   * @param maxStringLength the longest string value accepted (at least Jackson's default is kept),
   *     typically the request size limit
   */
  public RequestBodies(long maxStringLength) {
    int limit = (int) Math.min(Integer.MAX_VALUE, Math.max(maxStringLength, StreamReadConstraints.DEFAULT_MAX_STRING_LEN));
    this.json = JsonFactory.builder()
        .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(limit).build())
        .build();
  }

  /**
   * Validates {@code body} and reads its routing fields.
   *
   * @throws MalformedBodyException when it is empty, not an object, not well-formed, followed by
   *     more content, or over a parser limit (nesting, number length, string length)
   * @param body the complete request body
   * @return the body's routing fields
   */
  public Fields parse(byte[] body) throws MalformedBodyException {
    try (JsonParser parser = json.createParser(body)) {
      JsonToken token = parser.nextToken();
      if (token == null) {
        throw new MalformedBodyException("the body is empty");
      }
      if (token != JsonToken.START_OBJECT) {
        throw new MalformedBodyException("found " + describe(token) + " instead");
      }
      JsonBodies.RequestFields fields = JsonBodies.readRequestFields(parser);
      if (parser.nextToken() != null) {
        throw new MalformedBodyException("there is more content after the JSON object");
      }
      return new Fields(fields.model(), fields.models(), fields.stream());
    } catch (StreamConstraintsException e) {
      throw new MalformedBodyException("it exceeds a parser limit (nesting or number length)");
    } catch (IOException e) {
      throw new MalformedBodyException("it is not valid JSON" + where(e));
    }
  }

  private static String where(IOException e) {
    if (e instanceof JsonProcessingException jpe) {
      JsonLocation at = jpe.getLocation();
      if (at != null && at.getLineNr() > 0) {
        return " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
      }
    }
    return "";
  }

  private static String describe(JsonToken token) {
    switch (token) {
      case START_ARRAY:
        return "an array";
      case VALUE_STRING:
        return "a string";
      case VALUE_NUMBER_INT:
      case VALUE_NUMBER_FLOAT:
        return "a number";
      case VALUE_TRUE:
      case VALUE_FALSE:
        return "a boolean";
      case VALUE_NULL:
        return "null";
      default:
        return "something else";
    }
  }
}
