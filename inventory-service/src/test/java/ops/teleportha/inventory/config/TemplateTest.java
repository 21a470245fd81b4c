package ops.teleportha.inventory.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class TemplateTest {
    @Test
    void rendersPlaceholdersAndLiterals() {
        Template t = Template.parse("t", "proxy-{region}-{tag:Name}.corp:{instance_id}");
        assertThat(t.render(Map.of("region", "us-west-2", "tag:Name", "p1", "instance_id", "3021")::get))
                .isEqualTo("proxy-us-west-2-p1.corp:3021");
    }

    @Test
    void aMissingValueIsAnErrorNotABlank() {
        Template t = Template.parse("t", "{public_dns}:3021");
        assertThatThrownBy(() -> t.render(k -> null)).hasMessage("{public_dns} has no value");
        assertThatThrownBy(() -> t.render(k -> "")).hasMessage("{public_dns} has no value");
    }

    @Test
    void rejectsMalformedTemplates() {
        assertThatThrownBy(() -> Template.parse("x", "a}b")).hasMessageContaining("x: unbalanced '}'");
        assertThatThrownBy(() -> Template.parse("x", "{tag:}")).hasMessageContaining("x: unknown placeholder {tag:}");
        assertThatThrownBy(() -> Template.parse("x", " ")).hasMessageContaining("x: must not be empty");
    }
}
