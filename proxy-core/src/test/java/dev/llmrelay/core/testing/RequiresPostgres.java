package dev.llmrelay.core.testing;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The annotated test class (or method) needs the JVM's shared PostgreSQL cluster: it is started
 * before the class (or method) and given to any parameter of type {@link PostgresEngine}. If
 * PostgreSQL is not installed the tests are skipped, except under {@code CI=true}, where they
 * fail. See {@link EngineExtension}.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(EngineExtension.class)
public @interface RequiresPostgres {}
