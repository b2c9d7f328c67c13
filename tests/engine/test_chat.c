/* test_chat.c -- chat template detection and rendering, with the template texts real models
 * ship (copied into this file), checked against what their Jinja renders; unknown templates and
 * bad messages must be errors. Also tokenizes a rendered Phi-3 prompt with the shared Phi-3
 * vocabulary to check the markers become single special tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "engine/llama/chat.h"
#include "engine/llama/gguf.h"
#include "engine/llama/tokenizer.h"
#include "test.h"

/* Qwen2-7B-Instruct */
static const char *t_qwen2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
/* Qwen2.5-Instruct (tool branch first, then the plain one) */
static const char *t_qwen25 =
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n    {%- else %}\n"
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n"
    "{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n{%- endif %}\n{%- for message in messages %}...{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n";
/* SmolLM2-135M-Instruct (its newlines are real ones, and a double-quoted literal with an apostrophe) */
static const char *t_smollm2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
static const char *t_dq =
    "{{ \"<|im_start|>system\\nYou're helpful.<|im_end|>\\n\" }}{% for message in messages %}...{% endfor %}";
/* OpenHermes-2.5 (plain ChatML, no default system) */
static const char *t_chatml =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
/* Meta-Llama-3-8B-Instruct */
static const char *t_llama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
/* Llama-3.1-8B-Instruct (abridged: the tool branches are cut, the markers are the real ones) */
static const char *t_llama31 =
    "{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n"
    "{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n{%- endif %}\n"
    "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n";
static const char *t_llama32_date =
    "{%- if not date_string is defined %}\n    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n    {%- else %}\n"
    "        {%- set date_string = \"26 Jul 2024\" %}\n    {%- endif %}\n{%- endif %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}";
/* Llama-2-7b-chat-hf */
static const char *t_llama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
    "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}"
    "{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
/* zephyr-7b-beta */
static const char *t_zephyr =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
/* Mistral-7B-Instruct-v0.1 ([INST] without <<SYS>>: not rendered, rather than guessed) */
static const char *t_mistral =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
/* gemma-2b-it */
static const char *t_gemma =
    "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";

static void render_expect(const char *tmpl, const struct engine_message *m, int n, const char *want)
{
    struct chat_template ct;
    struct err e = { 0 };
    struct buf b;
    buf_init(&b);
    CHECK_EQ(chat_template_parse(&ct, tmpl, strlen(tmpl), &e), 0);
    int rc = chat_template_render(&ct, m, n, "<s>", "</s>", &b, &e);
    CHECK_EQ(rc, 0);
    if (rc) fprintf(stderr, "  %s\n", e.msg);
    CHECK_STR(b.data ? b.data : "", b.len, want);
    buf_deinit(&b);
}

static void test_detect(void)
{
    CHECK_EQ(chat_detect(t_qwen2, strlen(t_qwen2)), CHAT_FORMAT_CHATML);
    CHECK_EQ(chat_detect(t_qwen25, strlen(t_qwen25)), CHAT_FORMAT_CHATML);
    CHECK_EQ(chat_detect(t_chatml, strlen(t_chatml)), CHAT_FORMAT_CHATML);
    CHECK_EQ(chat_detect(t_llama3, strlen(t_llama3)), CHAT_FORMAT_LLAMA3);
    CHECK_EQ(chat_detect(t_llama31, strlen(t_llama31)), CHAT_FORMAT_LLAMA31);
    CHECK_EQ(chat_detect(t_llama2, strlen(t_llama2)), CHAT_FORMAT_LLAMA2);
    CHECK_EQ(chat_detect(t_zephyr, strlen(t_zephyr)), CHAT_FORMAT_ZEPHYR);
    CHECK_EQ(chat_detect(t_mistral, strlen(t_mistral)), CHAT_FORMAT_UNKNOWN);
    CHECK_EQ(chat_detect(t_gemma, strlen(t_gemma)), CHAT_FORMAT_UNKNOWN);
    CHECK_EQ(chat_detect(NULL, 0), CHAT_FORMAT_UNKNOWN);
    CHECK_EQ(chat_detect("", 0), CHAT_FORMAT_UNKNOWN);
    CHECK(strcmp(chat_format_name(CHAT_FORMAT_LLAMA3), "llama3") == 0);

    struct chat_template ct;
    struct err e = { 0 };
    CHECK_EQ(chat_template_parse(&ct, t_gemma, strlen(t_gemma), &e), LLMQ_EUNSUPPORTED);
    CHECK(strstr(e.msg, "unsupported chat template") != NULL);
    CHECK_EQ(ct.format, CHAT_FORMAT_UNKNOWN);
    CHECK_EQ(chat_template_parse(&ct, NULL, 0, &e), LLMQ_EUNSUPPORTED);
    CHECK_EQ(chat_template_parse(&ct, t_qwen2, strlen(t_qwen2), &e), 0);
    CHECK(strcmp(ct.default_system, "You are a helpful assistant.") == 0);
    CHECK_EQ(chat_template_parse(&ct, t_qwen25, strlen(t_qwen25), &e), 0);
    CHECK(strcmp(ct.default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.") == 0);
    CHECK_EQ(chat_template_parse(&ct, t_smollm2, strlen(t_smollm2), &e), 0);
    CHECK(strcmp(ct.default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face") == 0);
    CHECK_EQ(chat_template_parse(&ct, t_dq, strlen(t_dq), &e), 0);
    CHECK(strcmp(ct.default_system, "You're helpful.") == 0);
    CHECK_EQ(chat_template_parse(&ct, t_chatml, strlen(t_chatml), &e), 0);
    CHECK_EQ(ct.default_system[0], 0);
    CHECK_EQ(chat_template_parse(&ct, t_llama32_date, strlen(t_llama32_date), &e), 0);
    CHECK_EQ(ct.format, CHAT_FORMAT_LLAMA31);
    CHECK_EQ(ct.date_today, 1);
}

static void test_render(void)
{
    const struct engine_message user[] = { { "user", "Hi" } };
    const struct engine_message sys_user[] = { { "system", "Be brief." }, { "user", " Hi " } };
    render_expect(t_qwen2, user, 1,
                  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    render_expect(t_qwen2, sys_user, 2,
                  "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n");
    render_expect(t_chatml, user, 1, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    render_expect(t_llama3, sys_user, 2,
                  "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    render_expect(t_llama31, user, 1,
                  "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
                  "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    render_expect(t_llama31, sys_user, 2,
                  "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
                  "Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    const struct engine_message conv[] = { { "system", "SYS" }, { "user", "Hi" }, { "assistant", "Hello! " },
                                           { "user", "More" } };
    render_expect(t_llama2, conv, 4, "[INST] <<SYS>>\nSYS\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] More [/INST]");
    render_expect(t_llama2, user, 1, "[INST] Hi [/INST]");
    const struct engine_message zs[] = { { "system", "S" }, { "user", "Hi" } };
    render_expect(t_zephyr, zs, 2, "<|system|>\nS</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
}

static void test_render_errors(void)
{
    struct buf b;
    struct err e = { 0 };
    buf_init(&b);
    const struct engine_message bad_role[] = { { "wizard", "x" } };
    CHECK_EQ(chat_render(CHAT_FORMAT_CHATML, bad_role, 1, "<s>", "</s>", &b, &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "wizard") != NULL);
    const struct engine_message two_users[] = { { "user", "a" }, { "user", "b" } };
    CHECK_EQ(chat_render(CHAT_FORMAT_LLAMA2, two_users, 2, "<s>", "</s>", &b, &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "alternate") != NULL);
    CHECK_EQ(chat_render(CHAT_FORMAT_UNKNOWN, two_users, 2, "<s>", "</s>", &b, &e), LLMQ_EUNSUPPORTED);
    const struct engine_message null_content[] = { { "user", NULL } };
    CHECK_EQ(chat_render(CHAT_FORMAT_LLAMA3, null_content, 1, "<s>", "</s>", &b, &e), LLMQ_EFORMAT);
    buf_deinit(&b);
}

/* The Phi-3 vocabulary ships its template: detect it, render, and check the markers tokenize
 * to single special tokens with parse_special. */
static void test_phi3_vocab(void)
{
    const char *sh = test_shared_dir();
    if (!sh) { TEST_SKIP("LLMQ_SHARED_DIR absent"); return; }
    char path[4096];
    struct gguf_file *f = NULL;
    struct tokenizer *t = NULL;
    struct err e = { 0 };
    snprintf(path, sizeof(path), "%s/testdata/vocab/ggml-vocab-phi-3.gguf", sh);
    if (gguf_open(&f, path, &e) < 0 || tokenizer_new(&t, f, &e) < 0) { CHECK(0); fprintf(stderr, "%s\n", e.msg); gguf_close(f); return; }
    struct gguf_str tmpl;
    CHECK_EQ(gguf_get_str(f, "tokenizer.chat_template", &tmpl), 0);
    struct chat_template ct;
    CHECK_EQ(chat_template_parse(&ct, tmpl.ptr, (size_t)tmpl.len, &e), 0);
    CHECK_EQ(ct.format, CHAT_FORMAT_PHI3);
    const struct engine_message user[] = { { "user", "Hi" } };
    struct buf b;
    buf_init(&b);
    CHECK_EQ(chat_template_render(&ct, user, 1, "<s>", "</s>", &b, &e), 0);
    CHECK_STR(b.data, b.len, "<|user|>\nHi<|end|>\n<|assistant|>\n");
    int32_t ids[64];
    int n = tokenizer_encode(t, b.data, b.len, tokenizer_add_bos(t), 1, ids, 64);
    int32_t marker[4];
    CHECK_EQ(tokenizer_encode(t, "<|user|>", 8, 0, 1, marker, 4), 1);
    CHECK(n >= 5 && n < 64);
    if (n >= 2) { CHECK_EQ(ids[0], tokenizer_bos(t)); CHECK_EQ(ids[1], marker[0]); }
    buf_deinit(&b);
    tokenizer_free(t);
    gguf_close(f);
}

int main(void)
{
    TEST_RUN(test_detect);
    TEST_RUN(test_render);
    TEST_RUN(test_render_errors);
    TEST_RUN(test_phi3_vocab);
    TEST_MAIN_END();
}
