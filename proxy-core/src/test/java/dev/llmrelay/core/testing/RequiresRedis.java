package dev.llmrelay.core.testing;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The annotated test class (or method) needs the JVM's shared Redis server: it is started before
 * the class (or method) and given to any parameter of type {@link RedisEngine}. If Redis is not
 * installed the tests are skipped, except under {@code CI=true}, where they fail. See
 * {@link EngineExtension}.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(EngineExtension.class)
public @interface RequiresRedis {}
