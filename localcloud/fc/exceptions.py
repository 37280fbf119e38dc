"""Function Compute 2023-03-30 error codes, as the API returns them: HTTP status + JSON
``{"Code", "Message", "RequestId"}`` (the API's ``Error`` struct; the SDK reads ``Code``/``Message``).

``AsyncTaskAlreadyExists`` is emulator-chosen: FC 3.0 refuses a second async submission with the same
``x-fc-async-task-id`` with HTTP 409; its code is not published (FC 2.0 called the same refusal
``StatefulAsyncInvocationAlreadyExists``)."""
from __future__ import annotations

from localcloud.base import ApiError


class FcError(ApiError):
    pass


def function_not_found(name: str) -> FcError:
    return FcError(404, "FunctionNotFound", f"function '{name}' does not exist")


def async_task_exists(name: str, task_id: str) -> FcError:
    return FcError(409, "AsyncTaskAlreadyExists", f"async task '{task_id}' of function '{name}' already exists")


def invalid_argument(message: str) -> FcError:
    return FcError(400, "InvalidArgument", message)


def path_not_supported(method: str, path: str) -> FcError:
    return FcError(400, "PathNotSupported", f"'{method}' against '{path}' is not supported")


def entity_too_large(limit: int) -> FcError:
    return FcError(400, "EntityTooLarge", f"payload size exceeds maximum allowed size ({limit} bytes)")
