#include "errors.h"

#include <string.h>

const struct api_code_info api_codes[API_CODE_COUNT] = {
#define API_CODE_INFO(id, name, status) [API_##id] = {name, status},
    API_CODES(API_CODE_INFO)
#undef API_CODE_INFO
};

bool api_code_parse(const char *name, enum api_code *out) {
    for (int i = 0; name != NULL && i < API_CODE_COUNT; i++) {
        if (strcmp(api_codes[i].name, name) == 0) {
            *out = (enum api_code)i;
            return true;
        }
    }
    return false;
}
