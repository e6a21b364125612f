/* libFuzzer target: the host's reading of worker messages (server/wire.c),
 * i.e. what a compromised worker's frames become once frame.c has parsed
 * them. The input is the payload of one frame. Checks:
 *   - every check holds exactly when the message says what it must: an
 *     accepted answer carries the id, an accepted result every promised
 *     member, an accepted `rejected` a documented code, an accepted `output`
 *     a stream of stdout or stderr;
 *   - the bodies made from any message are objects with the members the
 *     API documents, and steal what they are given (no leak under ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "frame.h"
#include "wire.h"

static void must(int cond) {
    if (!cond)
        abort();
}

/* libFuzzer's entry point; libFuzzer has no header that declares it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *type, *stream, *text;
    enum api_code code;
    char why[192], clean[256];
    size_t len;
    uint64_t id = 1;
    json_t *msg = frame_parse_message(data, size, &type, why, sizeof why);

    if (msg == NULL)
        return 0;
    if (json_is_integer(json_object_get(msg, "id")))
        id = (uint64_t)json_integer_value(json_object_get(msg, "id"));

    must(wire_answers(msg, id, why, sizeof why) == (json_is_integer(json_object_get(msg, "id"))));
    if (!wire_answers(msg, id + 1, why, sizeof why))
        must(memchr(why, 0, sizeof why) != NULL);

    if (wire_check_result(msg, why, sizeof why)) {
        static const char *const keys[] = {"ok", "result", "stdout", "stderr", "error", "scope"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            must(json_object_get(msg, keys[i]) != NULL);
        must(json_is_boolean(json_object_get(msg, "ok")));
    }
    if (wire_check_inspect(msg, why, sizeof why)) {
        json_t *body = wire_session_new("s", msg, 1, 0);
        must(body != NULL && json_is_object(body));
        json_decref(body);
    }
    if (wire_rejected(msg, &code, clean, sizeof clean)) {
        const char *said =
            json_string_value(json_object_get(json_object_get(msg, "error"), "code"));
        must(said != NULL && strcmp(said, api_codes[code].name) == 0 &&
             api_codes[code].status != 500);
        must(memchr(clean, 0, sizeof clean) != NULL);
    }
    if (wire_output(msg, &stream, &text, &len))
        must((strcmp(stream, "stdout") == 0 || strcmp(stream, "stderr") == 0) && text != NULL);
    must(memchr(wire_member(msg, "message", clean, sizeof clean), 0, sizeof clean) != NULL);

    {
        json_t *body = wire_stopped_steal(json_deep_copy(msg), API_TIMEOUT, "interrupt", "t");
        json_t *err = json_object_get(body, "error");
        must(json_is_false(json_object_get(body, "ok")));
        must(json_is_null(json_object_get(body, "result")));
        must(json_object_get(body, "type") == NULL && json_object_get(body, "id") == NULL);
        must(json_is_object(err) && json_object_get(err, "line") != NULL &&
             json_object_get(err, "traceback") != NULL);
        json_decref(body);
    }
    {
        json_t *body = wire_answer_steal(json_deep_copy(msg));
        must(json_object_get(body, "type") == NULL && json_object_get(body, "timing") == NULL);
        json_decref(body);
    }
    {
        uint8_t frame[4 + WIRE_CANCEL_FRAME_MAX];
        must(wire_cancel_frame(id, frame, sizeof frame) > 4);
    }
    json_decref(msg);
    return 0;
}
