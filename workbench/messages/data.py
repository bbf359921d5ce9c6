"""Errors about data: datasets, data files and what is wrong with their lines (workbench.core.data.datasets, dataset_files)."""

MESSAGES = {
    # datasets
    "data.offline": (
        "{name!r} is not a shipped dataset or a file, and the Hugging Face Hub cannot be reached (offline, or "
        "HF_HUB_OFFLINE=1), so it cannot be loaded as a hub dataset.{hint} Shipped: {shipped}; or upload a "
        ".jsonl/.csv file.",
        "{name!r} 既不是内置数据集也不是文件，且无法连接 Hugging Face Hub（离线，或 HF_HUB_OFFLINE=1），因此无法作为 Hub "
        "数据集加载。{hint}内置数据集：{shipped}；或者上传一个 .jsonl/.csv 文件。"),
    "data.did_you_mean": (" Did you mean {close}?", "你是不是想用 {close}？"),
    "data.hub_failed": ("Could not load {name!r} from the Hugging Face Hub: {detail}{hint}",
                        "无法从 Hugging Face Hub 加载 {name!r}：{detail}{hint}"),
    "data.folder_without_train": ("{path} is a folder without a train file (train.jsonl, train.json or train.csv).",
                                  "{path} 是文件夹，但其中没有训练文件（train.jsonl、train.json 或 train.csv）。"),
    "data.file_not_found": ("Data file not found: {path}", "找不到数据文件：{path}"),
    "data.unknown_split": ("Unknown split {split!r}; use one of {choices}.", "未知的数据划分 {split!r}；可选：{choices}。"),
    "data.all_truncated": ("No training example keeps any response token within max_length={n}; raise data.max_length "
                           "or shorten the prompts.",
                           "在 max_length={n} 以内，没有任何训练样本保留下回答 token；请增大 data.max_length 或缩短提示。"),
    # data files
    "data.unsupported_type": ("{name}: unsupported file type {suffix!r}; use one of {choices} (JSON Lines is the usual "
                              "choice).",
                              "{name}：不支持的文件类型 {suffix!r}；请使用以下之一：{choices}（通常用 JSON Lines）。"),
    "data.cannot_read": ("Cannot read {path}: {detail}", "无法读取 {path}：{detail}"),
    "data.empty_file": ("{name} is empty: it has no rows.", "{name} 是空的：没有任何行。"),
    "data.no_rows": ("{name} has no rows (only a header or blank lines).", "{name} 没有数据行（只有表头或空行）。"),
    "data.column_not_found": ("{source}: column {columns} not found. Columns found: {found}.",
                              "{source}：找不到列 {columns}。找到的列：{found}。"),
    "data.no_usable_columns": (
        "{source}: no usable columns. Columns found: {found}. Expected a prompt column ({prompts}) and a response "
        "column ({responses}), or a 'messages' column of chat turns, or a 'text' column. If yours are named "
        "differently, set data.prompt_column and data.response_column.",
        "{source}：没有可用的列。找到的列：{found}。需要一个提示列（{prompts}）和一个回答列（{responses}），或一个由对话轮次"
        "组成的 'messages' 列，或一个 'text' 列。如果你的列名不同，请设置 data.prompt_column 和 data.response_column。"),
    "data.none": ("none", "无"),
    "data.bad_lines": ("{source}: {n} bad {unit}, so nothing was loaded. {problems}. Fix or remove these {units} and "
                       "load it again.",
                       "{source}：有 {n} {unit}有问题，因此没有加载任何内容。{problems}。请修正或删除这些{units}后重新加载。"),
    "data.unit_line": ("line", "行"),
    "data.unit_lines": ("lines", "行"),
    "data.unit_row": ("row", "行"),
    "data.unit_rows": ("rows", "行"),
    "data.problem_at": ("{unit} {lines}{more}: {kind}{detail}", "第 {lines} {unit}{more}：{kind}{detail}"),
    "data.and_more": (" and {n} more", "等（另有 {n} 行）"),
    "data.detail": (" ({detail})", "（{detail}）"),
    "data.detail_at": (" ({unit} {line}: {detail})", "（第 {line} {unit}：{detail}）"),
    # what is wrong with one line (the kind) and the detail shown in brackets
    "data.problem.utf8": ("not valid UTF-8 text", "不是合法的 UTF-8 文本"),
    "data.problem.utf8_detail": ("byte 0x{byte} at column {column}; save the file as UTF-8",
                                 "第 {column} 列的字节 0x{byte}；请把文件保存为 UTF-8"),
    "data.problem.json": ("not valid JSON", "不是合法的 JSON"),
    "data.problem.json_detail": ("{reason} at column {column}", "{reason}（第 {column} 列）"),
    "data.problem.array_unclosed": ("the array is never closed with ]", "数组没有用 ] 结束"),
    "data.problem.array_separator": ("expected ',' or ']' between rows", "行与行之间应为 ',' 或 ']'"),
    "data.problem.array_extra": ("extra text after the closing ]", "结尾的 ] 之后还有多余的文本"),
    "data.problem.not_object": ("not a JSON object", "不是 JSON 对象"),
    "data.problem.not_object_detail": ("got {type}; each row must be {{\"prompt\": ..., ...}}",
                                       "实际为{type}；每一行都必须是 {{\"prompt\": ..., ...}} 这样的对象"),
    "data.problem.too_many_values": ("more values than the header has columns", "值的个数多于表头的列数"),
    "data.problem.too_many_values_detail": ("{values} values, {columns} columns; quote fields that contain "
                                            "'{delimiter}'",
                                            "{values} 个值，{columns} 列；含有 '{delimiter}' 的字段请加引号"),
    "data.problem.csv": ("not valid CSV", "不是合法的 CSV"),
    "data.problem.missing": ("missing {column!r}", "缺少 {column!r}"),
    "data.problem.not_text": ("{column!r} is {type}, expected text", "{column!r} 是{type}，应为文本"),
    "data.problem.empty_field": ("empty {column!r}", "{column!r} 为空"),
    "data.problem.turns": ("{column!r} must be a non-empty list of {{role, content}} turns",
                           "{column!r} 必须是由 {{role, content}} 轮次组成的非空列表"),
    "data.problem.got": ("got {type}", "实际为{type}"),
    "data.problem.got_empty_list": ("got an empty list", "实际为空列表"),
    "data.problem.turn_not_object": ("{column!r} holds a turn that is not an object", "{column!r} 中有一个轮次不是对象"),
    "data.problem.unknown_role": ("{column!r} has a turn with an unknown role", "{column!r} 中有一个轮次的角色未知"),
    "data.problem.unknown_role_detail": ("got {role!r}; use system, user or assistant",
                                         "实际为 {role!r}；请使用 system、user 或 assistant"),
    "data.problem.content_not_text": ("{column!r} has a turn whose content is not text", "{column!r} 中有一个轮次的内容不是文本"),
    "data.problem.empty_turn": ("{column!r} has an empty turn", "{column!r} 中有一个空轮次"),
    "data.problem.no_assistant": ("{column!r} has no assistant turn to learn from",
                                  "{column!r} 中没有可供学习的 assistant 轮次"),
    "data.problem.empty_row": ("empty row", "空行"),
    "data.problem.too_long": ("too long (over {limit:,} characters)", "太长（超过 {limit:,} 个字符）"),
    "data.problem.size": ("{size:,} characters", "{size:,} 个字符"),
    # names of JSON types (what a row or a field is)
    "data.type.null": ("null", "null"),
    "data.type.bool": ("true/false", "布尔值"),
    "data.type.number": ("a number", "数字"),
    "data.type.text": ("text", "文本"),
    "data.type.list": ("a list", "列表"),
    "data.type.object": ("an object", "对象"),
    # Python's json parser messages
    "data.json.expecting_value": ("Expecting value", "缺少值"),
    "data.json.extra_data": ("Extra data", "多余的数据"),
    "data.json.expecting_comma": ("Expecting ',' delimiter", "缺少分隔符 ','"),
    "data.json.expecting_colon": ("Expecting ':' delimiter", "缺少分隔符 ':'"),
    "data.json.unterminated_string": ("Unterminated string starting at", "字符串没有结束"),
    "data.json.property_name": ("Expecting property name enclosed in double quotes", "属性名必须用双引号括起来"),
    "data.json.control_character": ("Invalid control character at", "无效的控制字符"),
    "data.json.escape": ("Invalid \\escape", "无效的转义"),
    "data.not_allowed": ("{name!r} is not a shipped dataset ({choices}) or a file uploaded in this session; "
                         "upload the file on the Train tab (or train from the command line to use files on the "
                         "server).",
                         "{name!r} 既不是内置数据集（{choices}），也不是本会话上传的文件；请在“训练”页上传该文件"
                         "（或在命令行训练，以使用服务器上的文件）。"),
}
