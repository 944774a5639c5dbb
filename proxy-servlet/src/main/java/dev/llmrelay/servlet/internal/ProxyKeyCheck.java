package dev.llmrelay.servlet.internal;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Locale;

/**
 * The inbound key check of {@code RELAY_API_KEYS}: a client must send {@code Authorization:
 * Bearer <one of the keys>}. With no keys configured every request passes.
 *
 * <p>The comparison takes the same time whichever key matches and however much of a wrong key is
 * right: the presented token and every configured key are compared as SHA-256 digests (so not
 * even the length leaks) with {@link MessageDigest#isEqual}, and all keys are always compared.
 * The keys themselves are not kept, only their digests; none is ever logged.
 *
 * <p>Immutable and thread-safe.
 */
public final class ProxyKeyCheck {
  private static final String BEARER = "bearer ";

  private final List<byte[]> keyDigests;

  /** @param relayApiKeys the accepted keys; empty turns the check off */
  public ProxyKeyCheck(List<String> relayApiKeys) {
    this.keyDigests = relayApiKeys.stream().map(ProxyKeyCheck::sha256).toList();
  }

  /** True when keys are configured, so the client's {@code Authorization} is the proxy key. */
  public boolean enabled() {
    return !keyDigests.isEmpty();
  }

  /**
   * Passes when the check is off or {@code authorization} carries a configured key.
   *
   * @param authorization the client's {@code Authorization} header, or null
   * @throws InvalidProxyKeyException when keys are configured and none matches
   */
  public void check(String authorization) {
    if (enabled() && !accepts(authorization)) {
      throw new InvalidProxyKeyException();
    }
  }

  /**
   * Whose jobs a request may see: with keys configured, the SHA-256 of the presented key in hex
   * (never the key itself, and the same for every request with that key); without keys, one
   * anonymous owner for everybody. Call it after {@link #check} passed.
   *
   * @param authorization the client's {@code Authorization} header, or null
   * @return the owner
   */
  public String owner(String authorization) {
    if (!enabled() || authorization == null || authorization.length() <= BEARER.length()) {
      return ANONYMOUS_OWNER;
    }
    return java.util.HexFormat.of().formatHex(sha256(authorization.substring(BEARER.length()).trim()));
  }

  /** The one owner of every job when no keys are configured. */
  public static final String ANONYMOUS_OWNER = "anonymous";

  boolean accepts(String authorization) {
    if (authorization == null
        || authorization.length() <= BEARER.length()
        || !authorization.substring(0, BEARER.length()).toLowerCase(Locale.ROOT).equals(BEARER)) {
      return false;
    }
    byte[] presented = sha256(authorization.substring(BEARER.length()).trim());
    boolean match = false;
    for (byte[] key : keyDigests) {
      match |= MessageDigest.isEqual(presented, key);
    }
    return match;
  }

  private static byte[] sha256(String value) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is required of every Java runtime", e);
    }
  }
}
