import os


def read_lines(path):
    """Return the lines of a text file without their line endings."""
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in ____]


def count_words(text):
    return len(text.____())


def main():
    for name in os.listdir("."):
        if name.endswith(".txt"):
            print(name, ____(open(name).read()))


if __name__ == "__main__":
    main()
