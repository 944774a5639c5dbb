package dev.llmrelay.servlet.internal;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Whether the current thread is a virtual thread, on a Java 17 baseline (looked up once through a
 * method handle; always false on Java 17). Thread-safe.
 */
public final class VirtualThreads {
  private static final MethodHandle IS_VIRTUAL = lookup();

  private VirtualThreads() {}

  private static MethodHandle lookup() {
    if (Runtime.version().feature() < 21) {
      return null;
    }
    try {
      return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual", MethodType.methodType(boolean.class));
    } catch (ReflectiveOperationException e) {
      return null;
    }
  }

  /** True when the calling thread is a virtual thread. */
  public static boolean current() {
    if (IS_VIRTUAL == null) {
      return false;
    }
    try {
      return (boolean) IS_VIRTUAL.invokeExact(Thread.currentThread());
    } catch (Throwable e) {
      return false;
    }
  }
}
