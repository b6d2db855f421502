export const hello = "ext";
